"""The docs stay alive: every relative link of README.md and docs/*.md resolves (file, and heading
anchor by GitHub's slug rules), every ``make <target>`` they name is a Makefile target, every
``medserve <command> [<subcommand>]`` they name is accepted by the CLI's parser, and every
repository path they name in code (and every folder of architecture.md's tree) exists.

Commands are read where a reader copies them from: inline code spans that start with the command,
and command positions of ``sh``/``bash``/``console`` code blocks. Prose is not parsed.
The checkers are pure functions of text, so their own tests below show they catch a break.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$")
_SHELL_LANGS = {"sh", "bash", "shell", "console", "zsh"}
_LINK = re.compile(
    r"(?<!\\)!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(?P<target>\S+?)>?(?:\s+.*)?$", re.M)
_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(?P<code>.+?)(?<!`)\1(?!`)", re.S)
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
# A command position: line start, after a shell separator or `$ ` prompt, after VAR=value words.
_COMMAND_START = re.compile(r"(?:^|[;&|(]\s*|\$\s+)(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*")
_PROGRAM_PATH = r"(?:[\w.$()/-]*/)?"  # .venv/bin/medserve, $(BIN)/medserve


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string's first word and its text."""

    lang: str
    text: str


def split_markdown(text: str) -> tuple[str, list[Block]]:
    """Prose (fenced blocks blanked, line count kept) and the fenced code blocks."""
    prose: list[str] = []
    blocks: list[Block] = []
    fence: str | None = None
    lang = ""
    body: list[str] = []
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is None and m:
            fence, lang, body = m["fence"], (m["info"].split() or [""])[0].lower(), []
            prose.append("")
        elif (
            fence is not None
            and line.strip().startswith(fence[0] * len(fence))
            and not line.strip(fence[0]).strip()
        ):
            blocks.append(Block(lang, "\n".join(body)))
            fence = None
            prose.append("")
        elif fence is not None:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    if fence is not None:  # an unclosed fence runs to the end of the file, as GitHub renders it
        blocks.append(Block(lang, "\n".join(body)))
    return "\n".join(prose), blocks


def _without_code_spans(prose: str) -> str:
    return _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), prose)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger): the rendered text lower-cased,
    punctuation dropped (word characters, spaces and hyphens kept), each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "")
    text = re.sub(r"(\*{1,3}|(?<!\w)_{1,3}|_{1,3}(?!\w))", "", text)  # emphasis markers
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a markdown document, duplicates numbered as GitHub does."""
    prose, _ = split_markdown(text)
    seen: dict[str, int] = {}
    result: set[str] = set()
    for line in prose.splitlines():
        m = _HEADING.match(line)
        if not m:
            continue
        slug = github_slug(m["text"])
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    result |= {m.group(1) for m in re.finditer(r"<a\s+(?:name|id)=\"([^\"]+)\"", text)}
    return result


def links(text: str) -> list[str]:
    """Link targets of a document's prose (inline links, images, reference definitions)."""
    prose = _without_code_spans(split_markdown(text)[0])
    return [m["target"] for m in _LINK.finditer(prose)] + [m["target"] for m in _REF_DEF.finditer(prose)]


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    """Relative links of ``doc`` that name no file under ``root`` or no heading of their file."""
    problems = []
    for target in links(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            continue  # https:, mailto: ...: not ours to keep alive offline
        path_part, _, fragment = target.partition("#")
        path_part = path_part.split("?", 1)[0]
        resolved = (doc.parent / path_part).resolve() if path_part else doc.resolve()
        if path_part.startswith("/"):
            resolved = (root / path_part.lstrip("/")).resolve()
        if not resolved.exists():
            problems.append(f"{target}: no file {path_part}")
            continue
        if root.resolve() not in resolved.parents and resolved != root.resolve():
            problems.append(f"{target}: outside the repository")
            continue
        if fragment and resolved.is_file() and resolved.suffix == ".md":
            if fragment.lower() not in anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{target}: no heading #{fragment} in {path_part or doc.name}")
    return problems


def command_lines(text: str) -> list[str]:
    """Where commands are written to be copied: inline code spans and shell code blocks."""
    prose, blocks = split_markdown(text)
    spans = [m["code"].strip() for m in _INLINE_CODE.finditer(prose)]
    shell = [
        line
        for block in blocks
        if block.lang in _SHELL_LANGS
        for line in block.text.replace("\\\n", " ").splitlines()
    ]
    return spans + shell


def _invocations(line: str, program: str) -> list[list[str]]:
    """The words after each command-position ``program`` in a line."""
    found = []
    pattern = re.compile(
        _COMMAND_START.pattern
        + _PROGRAM_PATH
        + re.escape(program)
        + r"(?=\s|$)(?P<rest>(?:[^;&|]|(?<=\w)\|(?=\w))*)"
    )
    for m in pattern.finditer(line):
        found.append(m["rest"].split())
    return found


def make_targets_named(text: str) -> set[str]:
    targets = set()
    for line in command_lines(text):
        for words in _invocations(line, "make"):
            for word in words:
                if word.startswith("-") or "=" in word:
                    continue  # make -C dir, make test PYTEST_ARGS=...
                if re.fullmatch(r"[A-Za-z][\w.-]*", word):
                    targets.add(word)
                break
    return targets


def makefile_targets(makefile: Path) -> set[str]:
    targets = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z][\w.-]*(?:[ \t]+[A-Za-z][\w.-]*)*)[ \t]*::?(?!=)", line)
        if m:
            targets.update(m.group(1).split())
    return targets


def medserve_commands_named(text: str) -> set[tuple[str, ...]]:
    """``medserve <command> [<subcommand>]`` as written: words up to the first option, placeholder
    or path; ``list|show`` alternatives become one entry each."""
    commands: set[tuple[str, ...]] = set()
    for line in command_lines(text):
        for words in _invocations(line, "medserve"):
            head: list[str] = []
            for word in words[:2]:
                if not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", word):
                    break
                head.append(word)
            if not head:
                continue
            for first in head[0].split("|"):
                if len(head) == 1:
                    commands.add((first,))
                for second in head[1].split("|") if len(head) > 1 else []:
                    commands.add((first, second))
    return commands


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def unknown_commands(commands: set[tuple[str, ...]], parser: argparse.ArgumentParser) -> list[str]:
    """Commands the parser would refuse: an unknown command, or an unknown subcommand of one that
    has subcommands. A word after a command without subcommands is its argument (e.g. a function
    name for ``invoke``), not checked here."""
    problems = []
    top = _subcommands(parser)
    for words in sorted(commands):
        sub = top.get(words[0])
        if sub is None:
            problems.append(f"medserve {' '.join(words)}: no command {words[0]!r} (known: {sorted(top)})")
            continue
        nested = _subcommands(sub)
        if len(words) > 1 and nested and words[1] not in nested:
            problems.append(
                f"medserve {' '.join(words)}: {words[0]} has no subcommand {words[1]!r} (known: {sorted(nested)})"
            )
    return problems


# Where a path written in code may start: the repository's folders, and (pages say "under
# layers/model/medserve/") the package and its subpackages. Anything else (S3 prefixes such as
# uploads/imaging/, media types, /tmp, .venv/bin/...) is not a path of this repository.
_REPO_DIRS = (
    "functions",
    "layers",
    "devtools",
    "events",
    "training",
    "tests",
    "bench",
    "scripts",
    "endpoint",
    "models",
    "docs",
    ".ci",
    "medserve",
)
_BASES = ("", "layers/model/", "layers/model/medserve/")


def _package_dirs(root: Path) -> tuple[str, ...]:
    package = root / "layers" / "model" / "medserve"
    return tuple(p.name for p in package.iterdir() if p.is_dir() and not p.name.startswith("__"))


def _exists(root: Path, path: str) -> bool:
    """``path`` under the repository, the layer or the package; ``pkg/module.attr`` for an
    attribute of ``pkg/module.py``."""
    path = path.rstrip("/") or path
    head, _, last = path.rpartition("/")
    candidates = [path]
    if "." in last and not (root / path).exists():
        candidates.append(f"{head}/{last.split('.', 1)[0]}.py")
    return any((root / base / c).exists() for base in _BASES for c in candidates)


def missing_paths(text: str, root: Path = ROOT) -> list[str]:
    """Repository paths written as inline code (one word, with a slash) that do not exist."""
    prefixes = _REPO_DIRS + _package_dirs(root)
    prose, _ = split_markdown(text)
    problems = []
    for m in _INLINE_CODE.finditer(prose):
        word = m["code"].strip()
        if not re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", word) or "/" not in word:
            continue  # placeholders (<name>), globs, URLs, several words: not one path
        if word.split("/", 1)[0] not in prefixes or re.fullmatch(r"medserve/[a-z]+", word):
            continue  # not a repository folder, or an OAuth scope (medserve/tabular)
        if not _exists(root, word):
            problems.append(word)
    return problems


def tree_paths(text: str) -> list[str]:
    """The paths of the folder tree (the first code block after a heading "The tree"): one entry
    per line, its first word, nested by two spaces of indentation."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^#+\s+The tree\s*$", line))
    _, blocks = split_markdown("\n".join(lines[start:]))
    paths: list[str] = []
    stack: list[tuple[int, str]] = []
    for line in blocks[0].text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        name = line.split()[0]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([p for _, p in stack] + [name.rstrip("/")])
        paths.append(path)
        if name.endswith("/"):
            stack.append((indent, name.rstrip("/")))
    return paths


_DOTTED = re.compile(r"(?<![\w/.-])(?:medserve|devtools)(?:\.[A-Za-z_]\w*)+")


def dotted_names(text: str) -> set[str]:
    """``medserve.x.y`` / ``devtools.x`` names written in inline code."""
    prose, _ = split_markdown(text)
    return {n for m in _INLINE_CODE.finditer(prose) for n in _DOTTED.findall(m["code"])}


def unresolvable(name: str) -> bool:
    """True unless ``name`` is a module, or an attribute (chain) of the longest module prefix."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return True
            obj = getattr(obj, attr)
        return False
    return True


_ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/v1/[\w{}./-]*[\w}])")


def routes_named(text: str) -> set[tuple[str, str]]:
    """``POST /v1/...`` routes written in inline code."""
    prose, _ = split_markdown(text)
    return {(m[0], m[1]) for span in _INLINE_CODE.finditer(prose) for m in _ROUTE.findall(span["code"])}


@functools.cache
def served_routes(root: Path = ROOT) -> frozenset[tuple[str, str]]:
    """Every route of template.yaml's functions (with the offload functions the parameters
    switch on) and of the committed OpenAPI document."""
    import json

    from devtools.local.template import Template

    routes: set[tuple[str, str]] = set()
    for overrides in (None, {"RealtimeEndpointName": "docs", "AsyncEndpointName": "docs"}):
        template = Template.load(root / "template.yaml", parameter_overrides=overrides)
        routes |= {r for spec in template.functions().values() for r in spec.http_routes}
    document = json.loads((root / "layers" / "model" / "medserve" / "api" / "openapi.json").read_text())
    routes |= {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    return frozenset(routes)


# --------------------------------------------------------------------------- the repository's docs


def test_the_docs_exist() -> None:
    assert (ROOT / "README.md").is_file()
    assert len(DOCS) > 1, "docs/*.md: the capability pages"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    problems = broken_links(doc)
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_make_targets_exist(doc: Path) -> None:
    named = make_targets_named(doc.read_text(encoding="utf-8"))
    missing = sorted(named - makefile_targets(ROOT / "Makefile"))
    assert not missing, f"make targets the Makefile does not have: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_medserve_commands_parse(doc: Path) -> None:
    from devtools.cli import _build_parser

    named = medserve_commands_named(doc.read_text(encoding="utf-8"))
    problems = unknown_commands(named, _build_parser())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_named_in_code_exist(doc: Path) -> None:
    missing = missing_paths(doc.read_text(encoding="utf-8"))
    assert not missing, f"paths that are not in the repository: {missing}"


def test_every_folder_of_the_architecture_tree_exists() -> None:
    paths = tree_paths((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    assert {"functions", "layers/model/medserve", "devtools/local", "tests/unit"} <= set(paths)
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"the tree names what is not there: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_names_resolve(doc: Path) -> None:
    stale = sorted(n for n in dotted_names(doc.read_text(encoding="utf-8")) if unresolvable(n))
    assert not stale, f"modules or attributes that do not exist: {stale}"


# Folders a build or a run leaves behind (see .gitignore): not part of the tree a newcomer reads.
_GENERATED = {"build", "dist", "htmlcov", "node_modules"}


def _listed_folders(root: Path) -> set[str]:
    """The folders the tree must show: every top-level folder and every folder of tests/ and
    functions/, and every package of medserve (subpackages included)."""

    def folders(path: Path) -> list[Path]:
        return [
            p
            for p in path.iterdir()
            if p.is_dir()
            and (not p.name.startswith(".") or p.name == ".ci")
            and p.name not in _GENERATED
            and not p.name.endswith(".egg-info")
            and p.name != "__pycache__"
        ]

    wanted = {p for p in folders(root)}
    wanted |= {p for top in ("tests", "functions") for p in folders(root / top)}
    wanted |= {p.parent for p in (root / "layers" / "model" / "medserve").rglob("__init__.py")}
    return {str(p.relative_to(root)) for p in wanted}


def test_the_architecture_tree_shows_every_folder() -> None:
    """One line per folder: a new function, test tier or subpackage gets its line in
    docs/architecture.md ("## The tree": the folder name, two spaces deeper than its parent, and
    what it is for)."""
    lines = tree_paths((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    shown = {
        "/".join(p.split("/")[:n]) for p in lines for n in range(1, p.count("/") + 2)
    }  # layers/model/ shows layers
    absent = sorted(_listed_folders(ROOT) - shown)
    assert not absent, (
        f"folders docs/architecture.md's tree does not show: {absent}; add one line each under "
        "'## The tree' (the folder's name, indented two spaces below its parent, and what it is for)"
    )


def test_the_architecture_page_names_every_top_level_module() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(
        p.name for p in (ROOT / "layers" / "model" / "medserve").glob("*.py") if p.name != "__init__.py"
    )
    absent = [m for m in modules if f"`{m}`" not in page]
    assert not absent, f"medserve modules docs/architecture.md does not describe: {absent}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_routes_named_are_served(doc: Path) -> None:
    unknown = sorted(routes_named(doc.read_text(encoding="utf-8")) - served_routes())
    assert not unknown, f"routes neither template.yaml nor openapi.json has: {unknown}"


def test_readme_starts_with_the_two_commands() -> None:
    """CONTRACT.md: `make run` and `make test` at the top of the README."""
    _, blocks = split_markdown((ROOT / "README.md").read_text(encoding="utf-8"))
    first_shell = next(b for b in blocks if b.lang in _SHELL_LANGS)
    assert {"run", "test"} <= make_targets_named(f"```sh\n{first_shell.text}\n```")


def test_every_page_is_reachable_from_the_readme() -> None:
    """A page no link leads to is a page no newcomer finds."""
    reached: set[Path] = set()
    todo = [(ROOT / "README.md").resolve()]
    while todo:
        doc = todo.pop()
        if doc in reached or not doc.is_file() or doc.suffix != ".md":
            continue
        reached.add(doc)
        for target in links(doc.read_text(encoding="utf-8")):
            path_part = target.partition("#")[0]
            if path_part and not re.match(r"^[a-z][a-z0-9+.-]*:", path_part, re.I):
                todo.append((doc.parent / path_part).resolve())
    orphans = [str(p.relative_to(ROOT)) for p in DOCS if p.resolve() not in reached]
    assert orphans == [], "docs pages no chain of links from README.md leads to"


# --------------------------------------------------------------------------- the checkers catch breaks


def test_a_missing_file_or_heading_is_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Large images: uploads and jobs\n\n## Limits\n## Limits\n")
    doc = tmp_path / "README.md"
    doc.write_text(
        "See [the page](docs/page.md), [uploads](docs/page.md#large-images-uploads-and-jobs),\n"
        "[again](docs/page.md#limits-1), [web](https://example.org/x) and [top](#intro).\n"
        "# Intro\n"
        "```sh\n[not a link](docs/nowhere.md)\n```\n"
        "`[nor this](docs/nowhere.md)`\n"
    )
    assert broken_links(doc, tmp_path) == []
    doc.write_text("[gone](docs/gone.md) [bad anchor](docs/page.md#limits-2) [self](#nowhere)\n")
    assert broken_links(doc, tmp_path) == [
        "docs/gone.md: no file docs/gone.md",
        "docs/page.md#limits-2: no heading #limits-2 in docs/page.md",
        "#nowhere: no heading #nowhere in README.md",
    ]


def test_github_slugs() -> None:
    assert github_slug("Access control and audit") == "access-control-and-audit"
    assert github_slug("Imaging: DICOM, PNG and JPEG") == "imaging-dicom-png-and-jpeg"
    assert github_slug("One invocation, like `sam local invoke`") == "one-invocation-like-sam-local-invoke"
    assert github_slug("Tests and benchmarks (`make test`)") == "tests-and-benchmarks-make-test"
    assert github_slug("S3 → results") == "s3--results"


def test_commands_are_read_from_code_only() -> None:
    text = (
        "To make sure, run `make run` or `make test PYTEST_ARGS=-x`; `medserve models list|show`.\n"
        "```sh\n.venv/bin/medserve invoke TabularFunction --event e.json\n"
        "cd x && make layer  # then medserve serve in prose of a comment is not a command\n"
        "FOO=1 $(BIN)/medserve eval deid --json\n```\n"
        '```json\n{"x": "make nothing", "y": "medserve nothing"}\n```\n'
        "The `medserve` CLI; `medserve.serving.cards.ModelCard`; medserve serve in prose.\n"
    )
    assert make_targets_named(text) == {"run", "test", "layer"}
    assert medserve_commands_named(text) == {
        ("models", "list"),
        ("models", "show"),
        ("invoke",),
        ("eval", "deid"),
    }


def test_an_unknown_command_or_target_is_caught(tmp_path: Path) -> None:
    from devtools.cli import _build_parser

    parser = _build_parser()
    assert unknown_commands({("serve",), ("models", "publish"), ("endpoint", "serve")}, parser) == []
    problems = unknown_commands({("deploy",), ("models", "delete")}, parser)
    assert [p.split(":")[0] for p in problems] == ["medserve deploy", "medserve models delete"]
    makefile = tmp_path / "Makefile"
    makefile.write_text(".PHONY: run\nrun: $(VENV)/.installed\n\t@echo\nVAR := 1\n$(VENV)/x: y\n")
    assert makefile_targets(makefile) == {"run"}


def test_a_path_that_moved_is_caught(tmp_path: Path) -> None:
    (tmp_path / "layers" / "model" / "medserve" / "imaging").mkdir(parents=True)
    (tmp_path / "layers" / "model" / "medserve" / "imaging" / "model.py").write_text("")
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    text = (
        "`imaging/model.py`, `layers/model/medserve/imaging/`, `medserve/imaging/model.py`,\n"
        "`imaging/model.predict_image`, `tests/unit/`, `uploads/imaging/`, `image/png`, `/tmp`,\n"
        "`tests/unit/<area>/`, `.venv/bin/medserve`, `medserve/imaging`, `imaging/phi.py`, `tests/unit/test_training.py`\n"
    )
    assert missing_paths(text, tmp_path) == ["imaging/phi.py", "tests/unit/test_training.py"]


def test_tree_paths_nest_by_indentation() -> None:
    text = "## The tree\n```\nlayers/       the layer\n  medserve/   package\n    api/      HTTP\n  Makefile\ntests/\n```\n"
    assert tree_paths(text) == [
        "layers",
        "layers/medserve",
        "layers/medserve/api",
        "layers/Makefile",
        "tests",
    ]


def test_a_module_that_moved_is_caught() -> None:
    text = "`medserve.serving.cards.ModelCard`, `python -m devtools.openapi`, `medserve.phi`, `medserve.errors.Nope`"
    assert dotted_names(text) == {
        "medserve.serving.cards.ModelCard",
        "devtools.openapi",
        "medserve.phi",
        "medserve.errors.Nope",
    }
    assert [n for n in sorted(dotted_names(text)) if unresolvable(n)] == [
        "medserve.errors.Nope",
        "medserve.phi",
    ]


def test_a_route_that_is_not_served_is_caught() -> None:
    text = "`POST /v1/tabular/predict`, `GET /v1/models/{name}`, `POST /v1/imaging/predict?explain=true`, `GET /v1/nope`"
    named = routes_named(text)
    assert named == {
        ("POST", "/v1/tabular/predict"),
        ("GET", "/v1/models/{name}"),
        ("POST", "/v1/imaging/predict"),
        ("GET", "/v1/nope"),
    }
    assert named - served_routes() == {("GET", "/v1/nope")}
