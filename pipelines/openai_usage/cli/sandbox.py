"""`openai-usage sandbox`: the simulator of the OpenAI Admin API, served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from ..simulator.faults import KINDS  # light: the simulator package imports its server only on use
from .app import main, run


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True, help="Days of history.")
@click.option("--scale", type=click.FloatRange(0.01, 10000), default=1.0, show_default=True,
              help="Organization size: multiplies the number of usage streams.")
@click.option("--now", "now_text", help="Freeze the clock at this time (default: the wall clock).")
@click.option("--latency-ms", type=click.FloatRange(0, 60000), default=0.0, show_default=True)
@click.option("--jitter-ms", type=click.FloatRange(0, 60000), default=0.0, show_default=True)
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="e.g. 429:every=5, 500:p=0.1,burst=3, costs_quirk (repeatable). Kinds: " + ", ".join(KINDS))
@click.option("--fault-seed", type=int, default=0, show_default=True)
@click.option("--admin-key", "admin_keys", multiple=True, help="Admin keys to accept (default: the sandbox key).")
@click.option("--costs-by-key/--no-costs-by-key", default=False, show_default=True,
              help="Answer Costs grouped by api_key_id (the spec offers it; the live API refused it with 400 in "
                   "2026-07, which is the default here).")
@click.option("--org", "orgs", multiple=True, metavar="NAME",
              help="Also serve an organization of this name (repeatable), with its own admin key "
                   "(sk-admin-sandbox-NAME) and its own data (seeded from --seed and the name).")
@click.option("--truth", "truth_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the exact daily totals of every endpoint as JSON to this file and exit.")
def sandbox(port: int, seed: int, days: int, scale: float, now_text: str | None, latency_ms: float,
            jitter_ms: float, faults: tuple[str, ...], fault_seed: int, admin_keys: tuple[str, ...],
            costs_by_key: bool, orgs: tuple[str, ...], truth_file: Path | None) -> None:
    """Serve a synthetic organization on 127.0.0.1 that behaves like the OpenAI Admin API."""

    def go() -> None:
        from ..organizations import NAME
        from ..simulator import Org, Sandbox, truth
        from ..simulator.faults import FaultPlan, FaultSpecError
        from ..simulator.server import DEFAULT_ADMIN_KEY, tenant_key, tenant_seed
        from ..timeutil import parse_time

        try:
            plan = FaultPlan.parse(list(faults), fault_seed)
        except FaultSpecError as e:
            raise ConfigError(str(e)) from None
        bad = [o for o in orgs if not NAME.match(o) or "__" in o]
        if bad:
            raise ConfigError(f"--org {bad[0]!r}: use lower-case letters, digits and single underscores")
        now = parse_time(now_text, "--now") if now_text else None
        org = Org(seed=seed, days=days, now=now, scale=scale, costs_by_key=costs_by_key)
        tenants = {tenant_key(name): Org(seed=tenant_seed(seed, name), days=days, now=org.clock.now() if now else None,
                                         scale=scale, costs_by_key=costs_by_key) for name in orgs}
        if truth_file is not None:
            n = truth.write_file(org, truth_file)
            click.echo(f"wrote ground truth for {n} endpoints to {truth_file}", err=True)
            return
        sb = Sandbox(org, faults=plan, latency_ms=latency_ms, jitter_ms=jitter_ms,
                     admin_keys=admin_keys or (DEFAULT_ADMIN_KEY,), port=port, tenants=tenants)
        click.echo(f"OpenAI Admin API sandbox on http://127.0.0.1:{port}/v1  (seed {seed}, {days} days)", err=True)
        if not admin_keys:
            click.echo(f"admin key: {DEFAULT_ADMIN_KEY}", err=True)
        for name in orgs:
            click.echo(f"organization {name}: SOURCES__OPENAI_USAGE__ORGANIZATIONS__{name.upper()}__API_KEY="
                       f"{tenant_key(name)}", err=True)
        sb.serve_forever()

    run(go)
