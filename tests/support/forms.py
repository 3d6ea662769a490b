"""Posting the site's forms as a browser does: from the page, with its CSRF token."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

#: The form field of the CSRF token (``newsline.web.csrf.FIELD``).
FIELD = "csrf_token"


def form_fields(html: str, selector: str = "form[method=post]") -> tuple[str, dict[str, str]]:
    """The action and the hidden fields (the CSRF token among them) of a page's form."""
    form = LexborHTMLParser(html).css_first(selector)
    assert form is not None, f"no {selector} on the page"
    hidden = {
        str(i.attributes.get("name")): str(i.attributes.get("value") or "")
        for i in form.css("input[type=hidden]")
    }
    return str(form.attributes.get("action") or ""), hidden


def csrf_of(html: str) -> str:
    """The CSRF token of the page's first POST form."""
    token = form_fields(html)[1].get(FIELD)
    assert token, "the form carries no CSRF token"
    return token
