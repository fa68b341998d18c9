"""The organizations a run loads: each a configured name, an admin key and a base URL.

Named organizations live in dlt's config and secrets:

    [sources.openai_usage.organizations.acme]      # .dlt/secrets.toml
    api_key = "sk-admin-..."
    base_url = "https://api.openai.com/v1"         # optional

or SOURCES__OPENAI_USAGE__ORGANIZATIONS__ACME__API_KEY (and ..._BASE_URL) in the environment. The single key that
set-ups before organizations used (`sources.openai_usage.api_key`, or OPENAI_ADMIN_KEY) is the organization
named `default`, whose rows and positions keep the names they always had.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import dlt

from .catalogue import DEFAULT_ORGANIZATION
from .errors import ConfigError
from .extract.http import ADMIN_KEY_HELP, DEFAULT_BASE_URL, check_base_url

SECTION = "sources.openai_usage.organizations"
_ENV = re.compile(r"^SOURCES__OPENAI_USAGE__ORGANIZATIONS__([A-Za-z0-9_]+?)__(API_KEY|BASE_URL)$")
# A name is a config section, an environment variable part, a resource-name suffix and a value in every table.
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Organization:
    name: str
    api_key: str = field(repr=False)  # never printed, not even in a traceback's locals
    base_url: str = DEFAULT_BASE_URL


def _get(provider: Any, key: str) -> Any:
    try:
        return provider.get(key)
    except Exception:  # an unreadable secrets file is the same as no value here
        return None


def configured_names() -> list[str]:
    """Names configured under [sources.openai_usage.organizations.*], in toml files or the environment."""
    names = {m[1].lower() for k in os.environ if (m := _ENV.match(k))}  # environment variables are upper case
    for provider in (dlt.secrets, dlt.config):
        section = _get(provider, SECTION)
        if isinstance(section, dict):
            names.update(str(n) for n in section)  # toml names are taken as written: `Acme` is refused below
    for name in sorted(names):
        if not NAME.match(name) or "__" in name:
            raise ConfigError(f"organization name {name!r}: use lower-case letters, digits and single underscores, "
                              "starting with a letter (at most 40 characters)")
    return sorted(names)


def default_key(explicit: str | None = None) -> str | None:
    """The single-organization key: given, else dlt's secrets (sources.openai_usage.api_key), else
    OPENAI_ADMIN_KEY."""
    key = explicit or _get(dlt.secrets, "sources.openai_usage.api_key") or os.environ.get("OPENAI_ADMIN_KEY")
    return (str(key).strip() or None) if key else None


def resolve(api_key: str | None = None, base_url: str = DEFAULT_BASE_URL,
            only: list[str] | tuple[str, ...] | None = None) -> list[Organization]:
    """The organizations to load: every configured one, or those named in `only`, refused in one line if a name is
    unknown or a key is missing. `api_key` and `base_url` are the default organization's."""
    orgs: dict[str, Organization] = {}
    for name in configured_names():
        key = _get(dlt.secrets, f"{SECTION}.{name}.api_key")
        url = _get(dlt.config, f"{SECTION}.{name}.base_url") or _get(dlt.secrets, f"{SECTION}.{name}.base_url")
        key = str(key or "").strip()
        if name == DEFAULT_ORGANIZATION and not key:
            key = default_key(api_key) or ""
        if not key:
            raise ConfigError(f"organization {name!r} has no api_key: set it under [{SECTION}.{name}] in "
                              f".dlt/secrets.toml or as SOURCES__OPENAI_USAGE__ORGANIZATIONS__{name.upper()}__API_KEY")
        url = str(url or base_url)
        try:
            check_base_url(url)
        except ConfigError as e:
            raise ConfigError(f"organization {name!r}: base_url {url!r} is not an http(s) URL with a host") from e
        orgs[name] = Organization(name, key, url)
    if DEFAULT_ORGANIZATION not in orgs and (key := default_key(api_key)):
        orgs[DEFAULT_ORGANIZATION] = Organization(DEFAULT_ORGANIZATION, key, base_url)
    if only:
        unknown = [n for n in only if n not in orgs]
        if unknown:
            have = ", ".join(orgs) or "none"
            raise ConfigError(f"--org {unknown[0]!r} is not configured (configured: {have}); add "
                              f"[{SECTION}.{unknown[0]}] with an api_key to .dlt/secrets.toml")
        orgs = {n: orgs[n] for n in dict.fromkeys(only)}
    if not orgs:
        raise ConfigError(f"no admin key: {ADMIN_KEY_HELP} (or set sources.openai_usage.api_key, or "
                          f"[{SECTION}.NAME] api_key for each organization, in .dlt/secrets.toml)")
    return list(orgs.values())
