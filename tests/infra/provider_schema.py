"""The google provider's schema, read offline, and infra/*.tf held against it.

`terraform validate` needs the provider binary, which cannot be downloaded here. The PyPI package
cdktn-provider-google is generated from that binary's schema (`terraform providers schema -json`)
and ships it as a jsii assembly (https://aws.github.io/jsii/specification/2-type-system/):
``cdktn_provider_google/_jsii/provider-google@VERSION.jsii.tgz`` holds ``package/.jsii``, one
JSON document whose ``types`` describe every resource, data source and the provider itself:

- a resource is a class whose base is ``cdktn.TerraformResource`` (``TerraformDataSource``,
  ``TerraformEphemeralResource``, ``TerraformProvider``); its docs summary links to the registry
  page and names the Terraform type: ``Represents a {@link https://registry.terraform.io/providers/
  hashicorp/google/7.46.1/docs/resources/pubsub_topic google_pubsub_topic}.``
- its initializer's ``config`` parameter is a struct (``...Config``) whose properties are the
  arguments and blocks; ``optional`` is absent on the required ones;
- a property typed as another struct of the assembly is a nested block with at most one
  instance; a union of ``IResolvable`` and an array of such a struct is a list or set block;
- each property's docs link to its registry anchor, ``...#build_config Cloudfunctions2Function#
  build_config``, which is the Terraform name. jsii's camelCase does not convert back reliably:
  ``hugepageSize1G`` is ``hugepage_size_1g``, ``buildAttribute`` is ``build``.

The checks return one sentence per problem rather than asserting (as infra_model does), so tests
can show that they catch a misspelt argument as well as that the real infra/ passes.
"""

from __future__ import annotations

import difflib
import functools
import gc
import gzip
import importlib.metadata
import json
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from tests.infra.infra_model import INFRA, unquote

# Terraform's local provider names and the packages that carry their schemas.
DISTRIBUTIONS: Mapping[str, str] = {
    "google": "cdktn-provider-google",
    "google-beta": "cdktn-provider-google-beta",
}

# Arguments Terraform itself gives every block of a kind; the provider's schema does not list them.
# https://developer.hashicorp.com/terraform/language/meta-arguments
META_ARGUMENTS: Mapping[str, frozenset[str]] = {
    "resource": frozenset(
        {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}
    ),
    "data": frozenset({"count", "for_each", "depends_on", "lifecycle", "provider"}),
    "ephemeral": frozenset({"count", "for_each", "depends_on", "lifecycle", "provider"}),
    "provider": frozenset({"alias"}),
}

# What a `dynamic "x" {}` block may hold besides nothing.
_DYNAMIC_ARGUMENTS = frozenset({"for_each", "iterator", "labels"})

_KIND_BASES = {
    "cdktn.TerraformResource": "resource",
    "cdktn.TerraformDataSource": "data",
    "cdktn.TerraformEphemeralResource": "ephemeral",
    "cdktn.TerraformProvider": "provider",
}
_REGISTRY = r"https://registry\.terraform\.io/providers/hashicorp/([\w-]+)/([\d.]+)/docs"
_REPRESENTS = re.compile(r"Represents a \{@link " + _REGISTRY + r"(?:/[\w-]+/\w+)? ([\w-]+)\}")
_ANCHOR = re.compile(r"\{@link https://registry\.terraform\.io/\S+#(\w+) \w+#\1\}")
_BLOCK_SUMMARY = re.compile(r"(\w+) block\.")


# --- the schema ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Argument:
    name: str
    required: bool


@dataclass(frozen=True, eq=False)
class BlockType:
    """A nested block: ``single`` when the provider allows at most one (jsii: a bare struct)."""

    name: str
    required: bool
    single: bool
    schema: Schema = field(repr=False)


@dataclass(frozen=True, eq=False)
class Schema:
    """What one block (a resource's body, or a nested block's) may hold.

    Compared by identity: jsii gives a few nested structs of 8.x the name of an enclosing one,
    so the schema read from it may contain cycles.
    """

    arguments: Mapping[str, Argument]
    blocks: Mapping[str, BlockType]

    def names(self) -> list[str]:
        return sorted({*self.arguments, *self.blocks})


@dataclass(frozen=True)
class ProviderSchema:
    """One provider's schema as one package version carries it."""

    name: str
    version: str
    distribution: str
    distribution_version: str
    provider: Schema
    by_kind: Mapping[str, Mapping[str, Schema]]

    def lookup(self, kind: str, type_name: str) -> Schema | None:
        """The schema of ``resource "google_x"`` (kind ``resource``), ``data "google_x"``, ..."""
        return self.by_kind.get(kind, {}).get(type_name)


class SchemaUnavailable(LookupError):
    """The package carrying a provider's schema is not installed, or holds no assembly."""


@functools.cache
def load_provider_schema(distribution: str = "cdktn-provider-google") -> ProviderSchema:
    """Every resource, data source and the provider config of one cdktn provider package.

    Reading the assembly takes between one and two seconds (130 MB of JSON), so it is read once
    per process; the schema kept is small and the assembly itself is dropped.

    Raises:
        SchemaUnavailable: the distribution is not installed.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as error:
        raise SchemaUnavailable(
            f"{distribution} is not installed (requirements-dev.txt; run `make install`)."
        ) from error
    # The parse allocates millions of containers and no cycles: the collector, run on every
    # few hundred of them, would only add a second of scanning.
    collecting = gc.isenabled()
    gc.disable()
    try:
        assembly = _read_assembly(_assembly_path(dist))
        return _provider_schema(assembly, distribution, dist.version)
    finally:
        if collecting:
            gc.enable()


def _assembly_path(dist: importlib.metadata.Distribution) -> Path:
    # importlib.metadata, not importlib.resources: importing the package starts a node process.
    candidates = [
        f
        for f in dist.files or []
        if f.name.endswith((".jsii.tgz", ".jsii")) and "_jsii" in f.parts
    ]
    if not candidates:
        raise SchemaUnavailable(f"{dist.metadata['Name']} {dist.version} ships no jsii assembly.")
    return Path(str(dist.locate_file(candidates[0])))


def _read_assembly(path: Path) -> dict[str, Any]:
    """``package/.jsii`` of a jsii tarball (or a bare ``.jsii``), following a redirect to a
    compressed assembly (``"schema": "jsii/file-redirect"``, ``"compression": "gzip"``)."""
    assembly: dict[str, Any] = json.loads(_member(path, ".jsii"))
    if assembly.get("schema") == "jsii/file-redirect":
        data = _member(path, assembly["filename"])
        if assembly.get("compression") == "gzip":
            data = gzip.decompress(data)
        assembly = json.loads(data)
    return assembly


def _member(path: Path, name: str) -> bytes:
    if not path.name.endswith(".tgz"):
        return (path.parent / name if name != ".jsii" else path).read_bytes()
    # Stream: the assembly is the tarball's first member, so the rest is never decompressed.
    with tarfile.open(path, "r|gz") as tar:
        for member in tar:
            if member.name.removeprefix("package/") == name.removeprefix("./"):
                handle = tar.extractfile(member)
                if handle is not None:
                    return handle.read()
    raise SchemaUnavailable(f"{path} holds no {name}.")


def _provider_schema(
    assembly: Mapping[str, Any], distribution: str, dist_version: str
) -> ProviderSchema:
    types: Mapping[str, Any] = assembly["types"]
    by_kind: dict[str, dict[str, Schema]] = {"resource": {}, "data": {}, "ephemeral": {}}
    provider: Schema | None = None
    name = version = ""
    structs: dict[str, Schema] = {}
    for spec in types.values():
        kind = _KIND_BASES.get(spec.get("base", ""))
        if spec["kind"] != "class" or kind is None:
            continue
        represents = _REPRESENTS.search(spec.get("docs", {}).get("summary", ""))
        if represents is None:
            continue
        config = _struct_schema(
            types, spec["initializer"]["parameters"][-1]["type"]["fqn"], structs
        )
        if kind == "provider":
            name, version, provider = represents.group(1), represents.group(2), config
        else:
            by_kind[kind][represents.group(3)] = config
    if provider is None:
        raise SchemaUnavailable(f"{distribution} {dist_version} describes no provider.")
    return ProviderSchema(name, version, distribution, dist_version, provider, by_kind)


def _struct_schema(types: Mapping[str, Any], fqn: str, structs: dict[str, Schema]) -> Schema:
    """The schema of the struct ``fqn``, each struct read once (``structs``, filled in place)."""
    if fqn in structs:
        return structs[fqn]
    arguments: dict[str, Argument] = {}
    blocks: dict[str, BlockType] = {}
    structs[fqn] = schema = Schema(arguments, blocks)
    for prop in _properties(types, fqn):
        name = terraform_name(prop)
        required = not prop.get("optional", False)
        nested = _nested_struct(types, prop["type"])
        if nested is None:
            arguments[name] = Argument(name, required)
        else:
            struct, single = nested
            nested_schema = _struct_schema(types, struct, structs)
            blocks[name] = BlockType(name, required, single, nested_schema)
    return schema


def _properties(types: Mapping[str, Any], fqn: str) -> Iterator[Mapping[str, Any]]:
    """A struct's own properties and those of the structs it extends within the assembly (not
    cdktn's TerraformMetaArguments: count, for_each and the rest are Terraform's, not the
    provider's)."""
    spec = types[fqn]
    yield from spec.get("properties", [])
    for base in spec.get("interfaces", []):
        if base in types:
            yield from _properties(types, base)


def _nested_struct(
    types: Mapping[str, Any], type_ref: Mapping[str, Any]
) -> tuple[str, bool] | None:
    """(struct, single) when a property's type is a nested block, else None."""
    fqn = type_ref.get("fqn")
    if fqn is not None:
        return (fqn, True) if types.get(fqn, {}).get("datatype") else None
    for member in type_ref.get("union", {}).get("types", []):
        collection = member.get("collection", {})
        element = collection.get("elementtype", {}).get("fqn")
        if collection.get("kind") == "array" and types.get(element, {}).get("datatype"):
            return element, False
    return None


def terraform_name(prop: Mapping[str, Any]) -> str:
    """A jsii property's Terraform name: its registry anchor, else ``NAME block.``, else its
    camelCase name in snake_case (a dozen of 35,000 in 20.3.1 need that: ``name``, ``ports``,
    ``port_range``, ``match_mode``, ``code``)."""
    docs = prop.get("docs", {})
    text = f"{docs.get('summary', '')}\n{docs.get('remarks', '')}"
    anchor = _ANCHOR.search(text)
    if anchor:
        return anchor.group(1)
    block = _BLOCK_SUMMARY.fullmatch(docs.get("summary", ""))
    if block:
        return block.group(1)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(prop["name"])).lower()


# --- infra/*.tf against it ----------------------------------------------------------------------


@dataclass(frozen=True)
class TopLevelBlock:
    """A ``resource``, ``data``, ``ephemeral`` or ``provider`` block of a .tf file."""

    kind: str
    type_name: str  # google_pubsub_topic; for a provider block, its local name (google)
    address: str  # google_pubsub_topic.topic, data.google_project.this, provider.google
    at: str  # infra/pubsub.tf:4
    body: Mapping[str, Any]


def google_blocks(infra_dir: Path = INFRA) -> Iterator[TopLevelBlock]:
    """The blocks of ``infra_dir`` that a google provider (google, google-beta) reads."""
    for path in sorted(infra_dir.glob("*.tf")):
        text = path.read_text()
        tree = hcl2.loads(text)
        for kind in ("resource", "data", "ephemeral", "provider"):
            for labelled in tree.get(kind, []):
                for labels, body in _bodies(labelled, 1 if kind == "provider" else 2):
                    if not labels[0].startswith("google"):
                        continue
                    prefix = "" if kind == "resource" else f"{kind}."
                    line = _line_of(text, kind, *labels)
                    yield TopLevelBlock(
                        kind,
                        labels[0],
                        prefix + ".".join(labels),
                        f"{infra_dir.name}/{path.name}:{line}",
                        body,
                    )


def schema_problems(infra_dir: Path = INFRA) -> list[str]:
    """Every google resource, data source and provider block of ``infra_dir`` that the provider's
    schema would refuse: unknown arguments or blocks, missing required ones, an argument written
    as a block or a block as an argument, a single block given twice, an unknown type."""
    problems: list[str] = []
    for block in google_blocks(infra_dir):
        at = f"{block.at}: {block.address}"
        problems += _block_problems(at, block.kind, block.type_name, block.body)
    return problems


def _block_problems(at: str, kind: str, type_name: str, body: Mapping[str, Any]) -> list[str]:
    local_name = type_name if kind == "provider" else _provider_of(body)
    distribution = DISTRIBUTIONS.get(local_name)
    if distribution is None:
        return [
            f"{at}: provider {local_name!r} has no schema package (known: {list(DISTRIBUTIONS)})."
        ]
    try:
        provider = load_provider_schema(distribution)
    except SchemaUnavailable as error:
        return [f"{at}: cannot be checked: {error}"]
    schema = provider.provider if kind == "provider" else provider.lookup(kind, type_name)
    if schema is None:
        known = provider.by_kind.get(kind, {})
        close = difflib.get_close_matches(type_name, list(known), n=3)
        what = {"data": "data source", "ephemeral": "ephemeral resource"}.get(kind, kind)
        return [
            f"{at}: the {local_name} provider {provider.version} has no {what} {type_name!r}"
            + _suggest(close)
        ]
    return _body_problems(at, schema, body, META_ARGUMENTS[kind])


def _provider_of(body: Mapping[str, Any]) -> str:
    """The local provider name of a resource's ``provider = google-beta.alias`` (default google)."""
    expression = str(body.get("provider", "google")).removeprefix("${").removesuffix("}")
    return expression.split(".")[0].strip()


def _body_problems(
    at: str, schema: Schema, body: Mapping[str, Any], meta: frozenset[str], path: str = ""
) -> list[str]:
    problems: list[str] = []
    present: set[str] = set()
    for key, value in body.items():
        if key.startswith("__") or key in meta:
            continue
        where = f"{at}: {path}{key}"
        if key == "dynamic" and isinstance(value, list):
            for labelled in value:
                for label, dynamic in _labelled(labelled):
                    name = str(unquote(label))
                    present.add(name)
                    problems += _dynamic_problems(at, schema, name, dynamic, path)
            continue
        present.add(key)
        if key in schema.blocks:
            block = schema.blocks[key]
            if not _is_block(value):
                problems.append(f"{where} is a block: write `{key} {{ ... }}`, not `{key} = ...`.")
                continue
            if block.single and len(value) > 1:
                problems.append(
                    f"{where}: the provider allows one {key} block, found {len(value)}."
                )
            for instance in value:
                problems += _body_problems(at, block.schema, instance, frozenset(), f"{path}{key}.")
        elif key in schema.arguments:
            if _is_block(value):
                problems.append(f"{where} is an argument: write `{key} = ...`, not a block.")
        else:
            problems.append(
                f"{where}: no such argument or block"
                + _suggest(difflib.get_close_matches(key, schema.names(), n=3))
            )
    for name in sorted({*schema.arguments, *schema.blocks} - present):
        if name in schema.arguments and schema.arguments[name].required:
            problems.append(f"{at}: {path}{name}: required argument missing.")
        elif name in schema.blocks and schema.blocks[name].required:
            problems.append(f"{at}: {path}{name}: required block missing.")
    return problems


def _dynamic_problems(
    at: str, schema: Schema, name: str, dynamic: Mapping[str, Any], path: str
) -> list[str]:
    where = f"{at}: {path}dynamic {name!r}"
    if name in schema.arguments:
        return [f"{where}: {name} is an argument; `dynamic` generates blocks only."]
    if name not in schema.blocks:
        close = difflib.get_close_matches(name, list(schema.blocks), n=3)
        return [f"{where}: no such block" + _suggest(close)]
    problems = [
        f"{where}: a dynamic block takes for_each, iterator, labels and content, not {key!r}."
        for key in dynamic
        if not key.startswith("__") and key not in {*_DYNAMIC_ARGUMENTS, "content"}
    ]
    content: Any = dynamic.get("content")
    if not _is_block(content) or len(content) != 1:
        return [*problems, f"{where}: needs exactly one content block."]
    block = schema.blocks[name]
    return problems + _body_problems(at, block.schema, content[0], frozenset(), f"{path}{name}.")


def _is_block(value: Any) -> bool:
    """python-hcl2 gives each block as a list of bodies marked ``__is_block__``; an argument whose
    value is a list of objects has no marker."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and item.get("__is_block__") for item in value)
    )


def _labelled(blocks: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(blocks, dict):
        yield from ((label, body) for label, body in blocks.items() if not label.startswith("__"))


def _bodies(labelled: Any, depth: int) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """python-hcl2 nests a block with N labels N dicts deep: ``{'"type"': {'"name"': body}}``."""
    for label, inner in _labelled(labelled):
        name = str(unquote(label))
        if depth == 1:
            yield (name,), inner
        else:
            for labels, body in _bodies(inner, depth - 1):
                yield (name, *labels), body


def _line_of(text: str, kind: str, *labels: str) -> int:
    pattern = r"^[ \t]*" + kind + "".join(r'\s+"?' + re.escape(label) + '"?' for label in labels)
    match = re.search(pattern, text, flags=re.M)
    return text.count("\n", 0, match.start()) + 1 if match else 0


def _suggest(close: list[str]) -> str:
    return f"; did you mean {' or '.join(repr(name) for name in close)}?" if close else "."


# --- the provider version -----------------------------------------------------------------------


def required_provider_versions(infra_dir: Path = INFRA) -> dict[str, str]:
    """``terraform { required_providers { NAME = { version = "..." } } }`` of ``infra_dir``."""
    constraints: dict[str, str] = {}
    for path in sorted(infra_dir.glob("*.tf")):
        with path.open() as handle:
            tree = hcl2.load(handle)
        for terraform in tree.get("terraform", []):
            for providers in terraform.get("required_providers", []):
                for name, spec in providers.items():
                    if isinstance(spec, dict) and "version" in spec:
                        constraints[name] = str(unquote(spec["version"]))
    return constraints


def satisfies(version: str, constraint: str) -> bool:
    """Whether ``version`` meets a Terraform version constraint (``~> 7.20``, ``>= 1.5, < 2``).

    https://developer.hashicorp.com/terraform/language/expressions/version-constraints
    """
    have = _numbers(version)
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(~>|>=|<=|!=|=|>|<)?\s*([\d.]+)\s*", part)
        if match is None:
            raise ValueError(f"not a version constraint: {constraint!r}")
        operator, want = match.group(1) or "=", _numbers(match.group(2))
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        if operator == "~>":
            # Only the rightmost component given may grow: ~> 7.20 is 7.x from 7.20 on.
            fixed = len(want) - 1
            ok = a >= b and a[:fixed] == b[:fixed]
        else:
            ok = {"=": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[
                operator
            ]
        if not ok:
            return False
    return True


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
