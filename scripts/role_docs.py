"""Variable tables of the role READMEs, generated from each role's meta/argument_specs.yml.

Every roles/<role>/README.md holds the markers

    <!-- BEGIN VARIABLES -->
    <!-- END VARIABLES -->

and this script writes, between them, a table of every option of the role's argument spec (name, type,
default, required, description; sub-options of a list or dict as `parent[].child` / `parent.child` rows,
choices in the description). Text outside the markers is left alone.

A page under docs/ may also hold a table of chosen variables of several roles:

    <!-- BEGIN MAIN VARIABLES: cluster_vip broker_users ... -->
    <!-- END MAIN VARIABLES -->

gets one row per name listed in the first marker, with its role, default and description from that role's
argument spec; a name no spec defines is an error.

    python scripts/role_docs.py           # rewrite the tables (make docs)
    python scripts/role_docs.py --check   # exit 1 and list the READMEs whose table is stale (make lint)
"""

import argparse
import os
import pathlib
import re
import sys

import yaml

BEGIN = "<!-- BEGIN VARIABLES -->"
END = "<!-- END VARIABLES -->"
NOTE = ("<!-- Generated from meta/argument_specs.yml by scripts/role_docs.py (make docs); "
        "edit the argument spec, not this table. -->")
VISIBLE = ("Generated from [`meta/argument_specs.yml`](meta/argument_specs.yml), which the preflight validates every "
           "host against; `ansible-doc -t role mosquitto_ha.cluster.{role}` shows the same.")
ROOT = pathlib.Path(__file__).resolve().parents[1]

# Ansible's documentation markup, as used in argument specs, and its Markdown.
_MARKUP = [
    (re.compile(r"L\(([^,()]+),\s*([^()]+)\)"), r"[\1](\2)"),
    (re.compile(r"U\(([^()]+)\)"), r"\1"),
    (re.compile(r"[COVMER]\(([^()]+)\)"), r"`\1`"),
    (re.compile(r"I\(([^()]+)\)"), r"*\1*"),
    (re.compile(r"B\(([^()]+)\)"), r"**\1**"),
]
# A default that is a description of how the value is found, not a value (e.g. "interface of the default route").
_PROSE = re.compile(r"[A-Za-z][A-Za-z_' ]* [A-Za-z_' ]*[A-Za-z]")


def markup(text):
    """Ansible doc markup (C(), I(), O(), ...) as Markdown."""
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text


def cell(text):
    """Text for one table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text):
    text = str(text)
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _flow(value):
    """A YAML value written the way one would write it in an inventory, on one line."""
    if isinstance(value, str):
        return value if value and value.strip() == value and not value.startswith(("{", "[")) else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    return str(value)


def render_default(spec):
    if "default" not in spec or spec["default"] is None:
        return ""
    value = spec["default"]
    if value == "":
        return '`""`'
    if isinstance(value, str) and "{{" not in value and _PROSE.fullmatch(value):
        return f"*{value}*"
    if isinstance(value, str) and value.strip() == value:
        return _code(value)
    return _code(_flow(value))


def render_type(spec):
    kind = spec.get("type", "str")
    if kind == "list" and spec.get("elements"):
        return f"list of {spec['elements']}"
    return kind


def render_description(spec):
    description = spec.get("description", "")
    if isinstance(description, list):
        description = " ".join(description)
    text = markup(str(description)).strip()
    if "choices" in spec:
        choices = ", ".join(_code(_flow(choice)) for choice in spec["choices"])
        text = f"{text} Choices: {choices}." if text else f"Choices: {choices}."
    if spec.get("no_log"):
        text = f"{text} Secret: never logged." if text else "Secret: never logged."
    return text


def rows(options, prefix=""):
    """(name, spec) of every option, sub-options after their parent, in the spec's order."""
    for name, spec in options.items():
        spec = spec or {}
        full = f"{prefix}{name}"
        yield full, spec
        if spec.get("options"):
            joiner = "[]." if spec.get("type") == "list" else "."
            yield from rows(spec["options"], f"{full}{joiner}")


def render_table(argument_specs, role=None):
    """The Markdown between the markers for one role's argument spec (the parsed file)."""
    entries = argument_specs["argument_specs"]
    lines = [NOTE, ""]
    if role:
        lines += [VISIBLE.format(role=role), ""]
    for entry, spec in entries.items():
        if len(entries) > 1:
            lines += [f"Entry point `{entry}`:", ""]
        options = (spec or {}).get("options") or {}
        if not options:
            # An entry point without variables of its own: a sentence, not a table without rows.
            lines += ["No variables of its own.", ""]
            continue
        lines += ["| Variable | Type | Default | Required | Description |",
                  "| --- | --- | --- | --- | --- |"]
        for name, option in rows(options):
            lines.append("| " + " | ".join([
                _code(name), cell(render_type(option)), cell(render_default(option)),
                "yes" if option.get("required") else "", cell(render_description(option)),
            ]) + " |")
        lines.append("")
    return "\n".join(lines)


def replace_block(text, table):
    """README text with the block between the markers replaced by table; ValueError without the markers."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"markers {BEGIN} ... {END} missing or out of order")
    return text[:start + len(BEGIN)] + "\n" + table + text[end:]


MAIN_BEGIN = re.compile(r"<!-- BEGIN MAIN VARIABLES:([^>]*)-->")
MAIN_END = "<!-- END MAIN VARIABLES -->"


def render_main_table(names, specs, doc_dir, root):
    """Rows for the chosen variables; specs maps role -> parsed argument spec."""
    options = {}
    for role, spec in specs.items():
        for name, option in (spec["argument_specs"]["main"].get("options") or {}).items():
            options[name] = (role, option or {})
    unknown = [name for name in names if name not in options]
    if unknown:
        raise ValueError(f"no role's argument spec defines {', '.join(unknown)}")
    lines = [NOTE, "", "| Variable | Role | Default | Description |", "| --- | --- | --- | --- |"]
    for name in names:
        role, option = options[name]
        readme = pathlib.Path(os.path.relpath(root / "roles" / role / "README.md", doc_dir)).as_posix()
        lines.append("| " + " | ".join([
            _code(name), f"[{role}]({readme}#role-variables)",
            cell(render_default(option) or ("required" if option.get("required") else "")),
            cell(render_description(option)),
        ]) + " |")
    lines.append("")
    return "\n".join(lines)


def expected_main(doc, root, specs):
    """(doc path, current text, text with fresh main-variable tables); ValueError for a broken block."""
    current = doc.read_text(encoding="utf-8")
    fresh, position = current, 0
    while True:
        match = MAIN_BEGIN.search(fresh, position)
        if not match:
            break
        end = fresh.find(MAIN_END, match.end())
        if end < 0:
            raise ValueError(f"{MAIN_END} missing")
        table = render_main_table(match.group(1).split(), specs, doc.parent, root)
        fresh = fresh[:match.end()] + "\n" + table + fresh[end:]
        position = match.end() + len(table) + 1 + len(MAIN_END)
    return doc, current, fresh


def role_dirs(root):
    return sorted(path for path in (root / "roles").iterdir() if (path / "meta" / "argument_specs.yml").is_file())


def expected(role_dir):
    """(README path, current text, text with a fresh table) of one role."""
    readme = role_dir / "README.md"
    spec = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    current = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    return readme, current, replace_block(current, render_table(spec, role_dir.name))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table is stale")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help="collection root (default: this checkout)")
    args = parser.parse_args(argv)
    stale, broken = [], []
    specs = {role_dir.name: yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
             for role_dir in role_dirs(args.root)}
    jobs = [(role_dir / "README.md", lambda role_dir=role_dir: expected(role_dir)) for role_dir in role_dirs(args.root)]
    jobs += [(doc, lambda doc=doc: expected_main(doc, args.root, specs))
             for doc in sorted((args.root / "docs").glob("*.md")) if MAIN_BEGIN.search(doc.read_text(encoding="utf-8"))]
    for path, job in jobs:
        try:
            readme, current, fresh = job()
        except ValueError as error:
            broken.append(f"{path}: {error}")
            continue
        if current == fresh:
            continue
        if args.check:
            stale.append(str(readme))
        else:
            readme.write_text(fresh, encoding="utf-8")
            print(f"updated {readme}")
    for line in broken:
        print(line, file=sys.stderr)
    if stale:
        print("stale variable tables (run `make docs`):", file=sys.stderr)
        for path in stale:
            print(f"  {path}", file=sys.stderr)
    return 1 if stale or broken else 0


if __name__ == "__main__":
    sys.exit(main())
