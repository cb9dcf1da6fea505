"""`gateway mapping lint | test | run`: check and try mapping specs without Kafka or partners."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.mappings.errors import MappingFailure, SpecProblems
from gateway.mappings.spec import load_spec, spec_files
from gateway.mappings.spec_tests import run_spec_tests, tests_file_for

app = typer.Typer(help="Mapping specs: lint, test, run (no Kafka, no partner needed).", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

PathsArgument = Annotated[list[Path] | None, typer.Argument(help="Spec files or folders (default: every shipped spec)")]


@app.command()
def lint(paths: PathsArgument = None) -> None:
    """Load each spec and report every problem with file, line and field."""
    failed = 0
    for path in spec_files(paths or []):
        try:
            spec = load_spec(path)
        except SpecProblems as problems:
            failed += 1
            for problem in problems.problems:
                errors.print(f"[red]✗[/] {problem}")
            continue
        console.print(f"[green]✓[/] {path}: {spec.name}, {len(spec.fields)} fields"
                      + ("" if spec.validator else " [yellow](no target_schema: output is not validated)[/]"))
    if failed:
        raise typer.Exit(1)


@app.command()
def test(paths: PathsArgument = None) -> None:
    """Run the spec tests beside each spec (NAME.tests.yaml) and show a diff for each failure."""
    passed = failed = 0
    for path in spec_files(paths or []):
        try:
            spec = load_spec(path)
            tests_path = tests_file_for(path)
            if not tests_path.is_file():
                console.print(f"[yellow]?[/] {path}: no spec tests ({tests_path.name} is missing)")
                continue
            results = run_spec_tests(spec, tests_path)
        except SpecProblems as problems:
            failed += 1
            for problem in problems.problems:
                errors.print(f"[red]✗[/] {problem}")
            continue
        for result in results:
            if result.passed:
                passed += 1
                console.print(f"[green]✓[/] {tests_path}:{result.line} {result.name}")
            else:
                failed += 1
                errors.print(f"[red]✗[/] {tests_path}:{result.line} {result.name}")
                errors.print(result.detail, markup=False)
    console.print(f"{passed} passed, {failed} failed")
    if failed or not passed:
        raise typer.Exit(1)


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="The spec file")],
    input_file: Annotated[Path, typer.Option("--input", "-i", help="JSON input ('-' reads standard input)")],
    validate: Annotated[bool, typer.Option(help="Check the output against the target schema")] = True,
) -> None:
    """Map one input and print the output as JSON."""
    try:
        loaded = load_spec(spec)
        text = typer.get_text_stream("stdin").read() if str(input_file) == "-" else input_file.read_text(encoding="utf-8")
        data = json.loads(text)
        output = loaded.map(data) if validate else loaded.apply(data)
    except SpecProblems as problems:
        for problem in problems.problems:
            errors.print(f"[red]✗[/] {problem}")
        raise typer.Exit(1) from None
    except (OSError, json.JSONDecodeError) as error:
        errors.print(f"[red]cannot read the input {input_file}:[/] {error}")
        raise typer.Exit(1) from None
    except MappingFailure as failure:
        errors.print(f"[red]mapping failed:[/] {failure}")
        raise typer.Exit(1) from None
    print(json.dumps(output, indent=2, ensure_ascii=False))
