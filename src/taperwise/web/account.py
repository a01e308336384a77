"""The signed-in user's own account: where they are signed in, and "sign out everywhere".

A lost laptop or a shared computer left signed in is ended from any other browser: the page lists the
user's live sessions (started, last seen, address, browser; the current one marked) and one button ends
them all, this one included. Ending is the store's (`end_user_sessions`): audited, the rows kept with
their reason, and a saved cookie of any of them reads nothing afterwards.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from taperwise.store.sessions import end_user_sessions, live_sessions, token_hash
from taperwise.web.auth import CurrentUser, client_of, store_of
from taperwise.web.rendering import render
from taperwise.web.sessions import current_session

router = APIRouter(include_in_schema=False)


@router.get("/account")
def account_page(request: Request, user: CurrentUser) -> Response:
    mine = current_session(request).token
    here = token_hash(mine) if mine else None
    with store_of(request).session() as s:
        rows = [
            {
                "started": row.created_at,
                "last_seen": row.last_seen_at,
                "ip": row.ip or "(not recorded)",
                "agent": row.user_agent or "(not recorded)",
                "current": row.token_hash == here,
            }
            for row in live_sessions(s, user)
        ]
    return render(request, "account.html", {"sessions": rows}, user=user)


@router.post("/account/sign-out-everywhere")
def sign_out_everywhere(request: Request, user: CurrentUser) -> Response:
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        end_user_sessions(s, user, "signed_out_everywhere", user, ip, agent)
    current_session(request).sign_out()
    return RedirectResponse("/login?signed_out=everywhere", status_code=status.HTTP_303_SEE_OTHER)
