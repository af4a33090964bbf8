"""`tacit bench NAME --json [--set KEY=VALUE ...]`: the benchmarks under bench/, one subcommand each.

bench/ is not an installed package: tacit runs from a checkout, and pipelines/cli/app.py mounts this app from
`PROJECT_ROOT / "bench"`. Each benchmark is a module here with a `run(...) -> dict` of figures. What its run()
asks about the running stack (settings, URLs, API keys, a login, the selection hook) is filled in from this
machine's config and secrets; `--set KEY=VALUE` passes the rest. Human-readable lines come first (the
benchmark's own progress on stderr), the figures last: with `--json`, one JSON object on the last line.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from bench.stop_signal import sigterm_unwinds
from pipelines.config import TacitSettings, load_settings
from pipelines.errors import BadInput, MissingPrerequisite

# name -> (module under bench/, one line for `tacit bench --help`)
BENCHES: dict[str, tuple[str, str]] = {
    "loop": ("bench.loop", "From an annotator's submit to the example, via API and browser, on a throwaway stack."),
    "retriever": ("bench.retriever", "Example search: latency, recall and throughput."),
    "train": ("bench.train", "train_dpo against a plain TRL script: wall time and peak memory."),
    "route": ("bench.route", "Routing decisions per second and latency; selection throughput."),
    "select": ("bench.selection", "Active learning on a 10,000-prompt pool: prompts/s, memory, overlap."),
    "select-quality": ("bench.selection_quality", "Examples picked by select vs stage 1 vs random: tacit eval."),
    "argilla-search": ("bench.argilla_search", "The Argilla search calls an annotation team makes."),
    "stats": ("bench.stats", "Agreement statistics (alpha, per-annotator, contested) over 100,000 responses."),
    "chaos": ("bench.chaos", "The loop under kill -9 of each component, on a throwaway stack: nothing lost."),
    "replicas": ("bench.replicas", "1 vs 2 API replicas on one PostgreSQL and Chroma server; cross-replica wake-ups."),
    "reindex": ("bench.reindex", "tacit reindex of N examples: vectors copied vs a model change, on a throwaway home."),
    "rounds": ("bench.rounds", "The loop in R rounds on a throwaway stack: full loop vs retrieval only vs frozen (+ select vs random)."),
}
# What a run() may ask for that only a running stack (`tacit up`) can give.
STACK_ARGUMENTS = ("argilla_url", "api_url", "api_key", "tacit_api_key", "annotator_api_keys", "login")

app = typer.Typer(
    help="Benchmarks under bench/: human-readable lines first, the JSON figures last.", no_args_is_help=True
)


def parse_value(text: str) -> object:
    """A `--set` value as the int, float or bool it spells, else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_options(options: list[str]) -> dict[str, object]:
    """`["n=5", "ui=false"]` -> `{"n": 5, "ui": False}`; dashes in keys become underscores."""
    parsed = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise BadInput(f"--set takes KEY=VALUE, got {option!r}")
        parsed[key.replace("-", "_")] = parse_value(value)
    return parsed


def parse_flags(extra: list[str]) -> dict[str, object]:
    """`["--n-examples", "1000", "--floor=false"]` -> `{"n_examples": 1000, "floor": False}`: a benchmark's
    run() options as flags, beside `--set`; a flag without a value is true."""
    parsed: dict[str, object] = {}
    position = 0
    while position < len(extra):
        flag = extra[position]
        if not flag.startswith("--") or len(flag) == 2:
            raise BadInput(f"expected an option such as --n-examples 1000, got {flag!r}")
        key, sep, value = flag[2:].partition("=")
        if not sep:
            following = extra[position + 1] if position + 1 < len(extra) else None
            if following is None or following.startswith("--"):
                value = "true"
            else:
                value, position = following, position + 1
        parsed[key.replace("-", "_")] = parse_value(value)
        position += 1
    return parsed


def stack_arguments(run: Callable[..., Any], settings: TacitSettings) -> dict[str, object]:
    """What a benchmark's run() asks for about the running stack, filled from this machine's config."""
    from pipelines.stack.secrets_store import read_secrets

    wanted = set(inspect.signature(run).parameters)
    secrets = read_secrets(settings.secrets_file)
    known: dict[str, object] = {"settings": settings}
    if secrets is not None:
        known |= {
            "argilla_url": settings.argilla_url,
            "api_url": settings.api_url,
            # a benchmark of Argilla alone gets the owner's key; one that goes through tacit, tacit's
            "api_key": secrets.argilla.owner.api_key if "api_url" not in wanted else secrets.api_key,
            "tacit_api_key": secrets.api_key,
            "annotator_api_keys": [login.api_key for login in secrets.argilla.annotators],
            "login": secrets.argilla.annotators[0],
        }
    if "select" in wanted:  # the route bench's active-learning figure

        def select() -> float:
            from bench.selection import select_throughput
            from pipelines.runtime import Runtime

            # 32 prompts: sampling k drafts per prompt on CPU makes a 1,000-prompt pool take hours
            return select_throughput(Runtime(settings), n_prompts=32)

        known["select"] = select
    return {name: value for name, value in known.items() if name in wanted}


def arguments(
    name: str, run: Callable[..., Any], settings: TacitSettings, options: dict
) -> dict[str, object]:
    """run()'s keyword arguments: the stack's, overridden by `--set`; a missing or unknown one is refused."""
    parameters = inspect.signature(run).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(options) - set(parameters))
        if unknown:
            raise BadInput(
                f"benchmark {name!r} has no option {', '.join(unknown)}: it takes {', '.join(parameters)}"
            )
    given = {**stack_arguments(run, settings), **options}
    for parameter in parameters.values():
        required = parameter.default is parameter.empty and parameter.kind not in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        )
        if required and parameter.name not in given:
            if parameter.name in STACK_ARGUMENTS:
                raise MissingPrerequisite(
                    f"benchmark {name!r} needs the running stack's credentials "
                    f"(none at {settings.secrets_file}): run `tacit up` first"
                )
            raise BadInput(f"benchmark {name!r} needs --set {parameter.name}=VALUE")
    return given


def _command(name: str, module: str) -> Callable[..., None]:
    def command(
        context: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
        options: list[str] = typer.Option(
            [], "--set", help="KEY=VALUE passed to the benchmark's run(), repeatable"
        ),
    ) -> None:
        overrides = {**parse_flags(context.args), **parse_options(options)}
        run = importlib.import_module(module).run
        with sigterm_unwinds():  # a benchmark cut off still stops and removes what it started
            figures = run(**arguments(name, run, load_settings(), overrides))
        if as_json:
            print(json.dumps(figures))
        else:
            Console().print_json(json.dumps(figures))

    return command


for _name, (_module, _help) in BENCHES.items():
    app.command(  # run()'s options also as flags: `tacit bench reindex --n-examples 1000`
        _name, help=_help, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(_command(_name, _module))
