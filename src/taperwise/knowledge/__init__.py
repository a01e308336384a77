"""Clinical knowledge as versioned data with sources, and the small loaders that read it.

Imports no other taperwise package: everything else builds on this.
"""
