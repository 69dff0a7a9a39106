"""Read ``template.yaml`` (AWS SAM) the way the local tools need it.

Contract:

* :func:`load_yaml` parses CloudFormation YAML, short-form tags included: ``!Ref X`` becomes
  ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``, ``!Condition C``
  becomes ``{"Condition": "C"}`` and every other ``!Name`` becomes ``{"Fn::Name": ...}``. Dates stay
  strings (``AWSTemplateFormatVersion: 2010-09-09``), as CloudFormation reads them.
* :class:`Template` lists the ``AWS::Serverless::Function`` resources as :class:`FunctionSpec`
  (Globals merged the way SAM merges them) and resolves intrinsic functions with **local
  semantics** (:meth:`Template.resolve`):

  - ``Ref`` to a parameter: its ``Default`` (or a ``parameter_overrides`` value; ``""`` if none);
  - ``Ref`` to a pseudo parameter: fixed local values (account ``123456789012``, stack
    ``medserve-local``, region from ``AWS_DEFAULT_REGION``/``AWS_REGION`` or ``us-east-1``);
  - ``Ref`` to a resource: its local physical name :meth:`Template.physical_name`, i.e.
    :func:`local_name` (``medserve-local-<logicalid>``), except where CloudFormation's ``Ref``
    is not a name: an SQS queue gives its queue URL and an SNS topic its ARN, so boto3 calls
    written for AWS work unchanged against the embedded moto server;
  - ``Fn::GetAtt``: ARNs/names/URLs of the right shape for S3 buckets, DynamoDB tables, SQS
    queues, SNS topics, Lambda functions and KMS keys; ``<local name>-<attr>`` for anything else;
  - ``Fn::Sub`` (both forms), ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``,
    ``Fn::Equals``/``Not``/``And``/``Or``, ``Condition``, ``Fn::FindInMap``, ``Fn::Base64``,
    ``Fn::GetAZs``, ``Fn::Length``, ``Fn::ToJsonString``; ``Ref: AWS::NoValue`` drops the key;
  - ``Fn::ImportValue`` cannot be known locally: :class:`UnresolvableError`.

* Environment variables (:attr:`FunctionSpec.environment`): the template may name a bucket with
  an expression (``BucketName: !Join [..., [!Ref AWS::AccountId, ...]]``) and pass the same
  expression, rather than ``!Ref``, to a function. Locally every bucket/table/queue/topic is
  called :meth:`Template.physical_name`, so an environment value that is deep-equal to a
  resource's name property (``BucketName``, ``TableName``, ``QueueName``, ``TopicName``), or that
  resolves to the same string as that property, is replaced by the resource's local name. Names
  embedded in longer strings (``s3://<expr>/prefix``) are not rewritten: use ``!Ref``/``!Sub``.
  Variables that cannot be resolved locally are left out and listed in
  :attr:`FunctionSpec.unresolved_environment` (``medserve invoke --env-vars`` can supply them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "LOCAL_ACCOUNT_ID",
    "LOCAL_STACK_NAME",
    "FunctionSpec",
    "S3Trigger",
    "Template",
    "TemplateError",
    "UnresolvableError",
    "load_yaml",
    "local_name",
    "local_region",
]

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account: ARNs we build match the ones it builds
LOCAL_STACK_NAME = "medserve-local"
LOCAL_PREFIX = "medserve-local-"

FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPE = "AWS::Serverless::LayerVersion"

# The property that holds a resource's physical name, per resource type.
NAME_PROPERTIES: dict[str, str] = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
}


class TemplateError(Exception):
    """The template is missing, malformed, or uses something the local tools cannot emulate."""


class UnresolvableError(TemplateError):
    """An intrinsic function whose value only exists in a deployed stack (``Fn::ImportValue``)."""


# --------------------------------------------------------------------------------------- YAML


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that turns CloudFormation short-form tags into their long-form dicts."""


def _construct_intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if key == "Fn::GetAtt" and isinstance(value, str):
        value = value.split(".", 1)  # !GetAtt Res.Attr is the short form of [Res, Attr]
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_intrinsic)
# CloudFormation reads 2010-09-09 as a string; PyYAML would make it a date. Copy, then filter, so
# yaml.SafeLoader itself is untouched.
CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) file into plain dicts with long-form intrinsics."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    except OSError as e:
        raise TemplateError(f"cannot read template {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise TemplateError(f"template {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"template {path} has no Resources section")
    return data


# ----------------------------------------------------------------------------------- helpers


def local_name(logical_id: str) -> str:
    """The local physical name of a resource: valid as an S3 bucket, DynamoDB table or SQS queue name.

    ``medserve-local-`` + the lower-cased logical id (logical ids are alphanumeric); names over
    S3's 63 characters are shortened with a stable hash suffix.
    """
    name = LOCAL_PREFIX + logical_id.lower()
    if len(name) > 63:
        digest = hashlib.sha256(logical_id.encode()).hexdigest()[:8]
        name = f"{name[:54]}-{digest}"
    return name


def local_region() -> str:
    """The region used locally: ``AWS_DEFAULT_REGION``, else ``AWS_REGION``, else ``us-east-1``."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


def _stringify(value: Any) -> str:
    """CloudFormation's string view of a scalar (``true``, ``3``, ``text``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TemplateError(f"expected a string, got {type(value).__name__}: {value!r}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _merge_globals(globals_: Any, own: Any) -> Any:
    """SAM's Globals rule: maps merge (the function wins), lists concatenate, scalars are replaced."""
    if isinstance(globals_, dict) and isinstance(own, dict):
        merged = dict(globals_)
        for key, value in own.items():
            merged[key] = _merge_globals(globals_[key], value) if key in globals_ else value
        return merged
    if isinstance(globals_, list) and isinstance(own, list):
        return globals_ + own
    return own


class _NoValue:
    """``Ref: AWS::NoValue``: the enclosing key or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# -------------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class S3Trigger:
    """An ``Events`` entry of ``Type: S3``: objects created in ``bucket_logical_id`` invoke the function."""

    bucket_logical_id: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def matches(self, key: str) -> bool:
        """Whether an (already URL-decoded) object key passes the prefix/suffix filter."""
        return key.startswith(self.prefix) and key.endswith(self.suffix)


@dataclass
class FunctionSpec:
    """One ``AWS::Serverless::Function`` with Globals merged and values resolved locally."""

    logical_id: str
    handler: str  # "app.lambda_handler"
    code_uri: Path  # absolute
    runtime: str
    timeout: int  # seconds
    memory_size: int  # MB
    environment: dict[str, str]
    layers: list[Path]  # ContentUri of each AWS::Serverless::LayerVersion referenced, absolute
    http_routes: list[tuple[str, str]]  # ("POST", "/v1/tabular/predict"); ("ANY", "$default")
    s3_triggers: list[S3Trigger]
    # Per route of http_routes: the scopes its JWT authorizer asks for (any one; () = any valid
    # token), or None for a route without an authorizer (open).
    route_scopes: dict[tuple[str, str], tuple[str, ...] | None] = field(default_factory=dict)
    external_layers: list[str] = field(default_factory=list)  # layer ARNs: not loadable locally
    unresolved_environment: list[str] = field(default_factory=list)  # names left out (ImportValue)

    @property
    def module_name(self) -> str:
        """The handler's module, e.g. ``app`` for ``app.lambda_handler``."""
        return self.handler.rsplit(".", 1)[0]

    @property
    def function_name(self) -> str:
        """The handler's function, e.g. ``lambda_handler``."""
        return self.handler.rsplit(".", 1)[1]


# ------------------------------------------------------------------------------------ template


class Template:
    """A loaded SAM template: functions, resources, and a local intrinsic-function resolver."""

    def __init__(
        self,
        data: dict[str, Any],
        base_dir: str | os.PathLike[str],
        *,
        path: Path | None = None,
        parameter_overrides: dict[str, str] | None = None,
    ) -> None:
        self.data = data
        self.base_dir = Path(base_dir).resolve()
        self.path = path
        self.parameter_overrides = dict(parameter_overrides or {})
        self._condition_cache: dict[str, bool] = {}
        self._intrinsics: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": self._not,
            "Fn::And": self._and,
            "Fn::Or": self._or,
            "Condition": self._condition_ref,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": self._base64,
            "Fn::GetAZs": self._get_azs,
            "Fn::Length": lambda arg: len(_as_list(self._resolve(arg))),
            "Fn::ToJsonString": lambda arg: json.dumps(self._resolve(arg), separators=(",", ":")),
            "Fn::ImportValue": self._import_value,
        }

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, parameter_overrides: dict[str, str] | None = None
    ) -> Template:
        """Load ``path``; relative ``CodeUri``/``ContentUri`` are taken from its directory."""
        resolved = Path(path).resolve()
        return cls(
            load_yaml(resolved),
            resolved.parent,
            path=resolved,
            parameter_overrides=parameter_overrides,
        )

    # ------------------------------------------------------------------ sections and resources

    @property
    def parameters(self) -> dict[str, Any]:
        return self.data.get("Parameters") or {}

    @property
    def resources(self) -> dict[str, Any]:
        return self.data.get("Resources") or {}

    @property
    def conditions(self) -> dict[str, Any]:
        return self.data.get("Conditions") or {}

    @property
    def mappings(self) -> dict[str, Any]:
        return self.data.get("Mappings") or {}

    def resource_type(self, logical_id: str) -> str | None:
        """The ``Type`` of a resource, or None when there is no such resource."""
        resource = self.resources.get(logical_id)
        return resource.get("Type") if isinstance(resource, dict) else None

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The raw (unresolved) ``Properties`` of a resource; ``{}`` if it has none."""
        resource = self.resources.get(logical_id) or {}
        return resource.get("Properties") or {}

    def exists(self, logical_id: str) -> bool:
        """Whether the resource would be created: it exists and its ``Condition`` (if any) holds."""
        resource = self.resources.get(logical_id)
        if not isinstance(resource, dict):
            return False
        condition = resource.get("Condition")
        return condition is None or self.condition(condition)

    def resources_of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        """Logical id → raw Properties of every existing resource of one of ``types``."""
        return {
            lid: self.properties(lid)
            for lid, res in self.resources.items()
            if isinstance(res, dict) and res.get("Type") in types and self.exists(lid)
        }

    def physical_name(self, logical_id: str) -> str:
        """The name a resource gets locally: :func:`local_name`, plus ``.fifo`` for FIFO queues/topics."""
        name = local_name(logical_id)
        rtype = self.resource_type(logical_id)
        props = self.properties(logical_id)
        fifo_flag = {"AWS::SQS::Queue": "FifoQueue", "AWS::SNS::Topic": "FifoTopic"}.get(rtype or "")
        if fifo_flag and _stringify(self.resolve(props.get(fifo_flag, False))) == "true":
            name += ".fifo"
        return name

    # ---------------------------------------------------------------------------- functions

    def functions(self) -> dict[str, FunctionSpec]:
        """Every (zip-packaged, existing) ``AWS::Serverless::Function``, keyed by logical id."""
        globals_fn = (self.data.get("Globals") or {}).get("Function") or {}
        specs: dict[str, FunctionSpec] = {}
        for lid, props in self.resources_of_type(FUNCTION_TYPE).items():
            merged = _merge_globals(globals_fn, props)
            if merged.get("PackageType") == "Image":
                continue  # container-image functions need Docker: out of scope locally
            specs[lid] = self._function_spec(lid, merged)
        return specs

    def function(self, logical_id: str) -> FunctionSpec:
        """One function by logical id; TemplateError naming the known ones if it does not exist."""
        specs = self.functions()
        if logical_id not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise TemplateError(f"no function {logical_id!r} in the template (functions: {known})")
        return specs[logical_id]

    def _function_spec(self, lid: str, props: dict[str, Any]) -> FunctionSpec:
        handler = self.resolve(props.get("Handler"))
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{lid}: Handler must look like 'module.function', got {handler!r}")
        environment, unresolved = self._environment(props)
        layers, external = self._layers(lid, props.get("Layers") or [])
        return FunctionSpec(
            logical_id=lid,
            handler=handler,
            code_uri=self._local_path(lid, "CodeUri", props.get("CodeUri", ".")),
            runtime=_stringify(self.resolve(props.get("Runtime", ""))),
            timeout=int(_stringify(self.resolve(props.get("Timeout", 3)))),
            memory_size=int(_stringify(self.resolve(props.get("MemorySize", 128)))),
            environment=environment,
            layers=layers,
            http_routes=self._http_routes(props.get("Events") or {}),
            route_scopes=self._route_scopes(props.get("Events") or {}),
            s3_triggers=self._s3_triggers(lid, props.get("Events") or {}),
            external_layers=external,
            unresolved_environment=unresolved,
        )

    def _local_path(self, lid: str, prop: str, value: Any) -> Path:
        value = self.resolve(value)
        if not isinstance(value, str):
            raise TemplateError(f"{lid}: {prop} must be a local path to run locally, got {value!r}")
        return (self.base_dir / value).resolve()

    def _environment(self, props: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
        variables = (props.get("Environment") or {}).get("Variables") or {}
        environment: dict[str, str] = {}
        unresolved: list[str] = []
        for name, raw in variables.items():
            try:
                value = self.resolve_environment_value(raw)
            except UnresolvableError:
                unresolved.append(name)
                continue
            if value is not None:
                environment[name] = value
        return environment, unresolved

    def resolve_environment_value(self, raw: Any) -> str | None:
        """Resolve one environment value; None for ``AWS::NoValue``. See the module docstring."""
        for expression, _resolved, lid in self._name_index():
            if raw == expression:
                return self.physical_name(lid)
        value = self._resolve(raw)
        if value is NO_VALUE:
            return None
        text = _stringify(value)
        for _expression, resolved_name, lid in self._name_index():
            if resolved_name is not None and text == resolved_name:
                return self.physical_name(lid)
        return text

    def _name_index(self) -> list[tuple[Any, str | None, str]]:
        """(name expression, its resolved value or None, logical id) of every named resource."""
        index = []
        for lid, res in self.resources.items():
            prop = NAME_PROPERTIES.get(res.get("Type", "") if isinstance(res, dict) else "")
            expression = self.properties(lid).get(prop) if prop else None
            if expression is None:
                continue
            try:
                resolved = self._resolve(expression)
                index.append((expression, _stringify(resolved), lid))
            except TemplateError:
                index.append((expression, None, lid))
        return index

    def _layers(self, lid: str, items: list[Any]) -> tuple[list[Path], list[str]]:
        local: list[Path] = []
        external: list[str] = []
        for item in items:
            ref = item.get("Ref") if isinstance(item, dict) and len(item) == 1 else None
            if isinstance(ref, str) and self.resource_type(ref) == LAYER_TYPE:
                content = self.properties(ref).get("ContentUri", ".")
                local.append(self._local_path(ref, "ContentUri", content))
            else:
                # A published layer ARN (e.g. the Powertools layer): its packages are expected in
                # the local virtualenv instead.
                try:
                    external.append(_stringify(self.resolve(item)))
                except TemplateError:
                    external.append(repr(item))
        return local, external

    def _http_routes(self, events: dict[str, Any]) -> list[tuple[str, str]]:
        """("POST", "/v1/tabular/predict"), ...: every HttpApi event, in template order."""
        return list(self._route_scopes(events))

    def _route_scopes(self, events: dict[str, Any]) -> dict[tuple[str, str], tuple[str, ...] | None]:
        """What each HttpApi route's authorizer asks for, as API Gateway would enforce it: the
        event's ``Auth`` (``Authorizer: NONE`` opens a route), else the API's ``DefaultAuthorizer``."""
        scopes: dict[tuple[str, str], tuple[str, ...] | None] = {}
        for event in events.values():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            method = _stringify(self.resolve(props.get("Method", "ANY"))).upper()
            path = _stringify(self.resolve(props.get("Path", "$default")))
            route = ("ANY" if path == "$default" else method, path)
            auth = props.get("Auth") or {}
            api = props.get("ApiId")
            api_auth = self.properties(api["Ref"]).get("Auth") or {} if isinstance(api, dict) else {}
            authorizer = auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
            if authorizer is None or authorizer == "NONE":
                scopes[route] = None
            else:
                scopes[route] = tuple(map(str, self.resolve(auth.get("AuthorizationScopes") or [])))
        return scopes

    def _s3_triggers(self, lid: str, events: dict[str, Any]) -> list[S3Trigger]:
        triggers = []
        for name, event in events.items():
            if not isinstance(event, dict) or event.get("Type") != "S3":
                continue
            props = event.get("Properties") or {}
            bucket = props.get("Bucket")
            bucket_id = bucket.get("Ref") if isinstance(bucket, dict) else None
            if not isinstance(bucket_id, str) or self.resource_type(bucket_id) != "AWS::S3::Bucket":
                raise TemplateError(f"{lid}.Events.{name}: Bucket must be !Ref of an AWS::S3::Bucket")
            rules = ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            filters = {
                _stringify(self.resolve(r["Name"])).lower(): _stringify(self.resolve(r["Value"]))
                for r in rules
            }
            triggers.append(
                S3Trigger(
                    bucket_logical_id=bucket_id,
                    events=tuple(_stringify(e) for e in _as_list(self.resolve(props.get("Events")))),
                    prefix=filters.get("prefix", ""),
                    suffix=filters.get("suffix", ""),
                )
            )
        return triggers

    # --------------------------------------------------------------------------- resolution

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function in ``value`` with local semantics (module docstring).

        ``AWS::NoValue`` entries are dropped from dicts and lists; a top-level one gives None.
        """
        result = self._resolve(value)
        return None if result is NO_VALUE else result

    def condition(self, name: str) -> bool:
        """Evaluate a named condition of the ``Conditions`` section against the parameter values."""
        if name not in self._condition_cache:
            if name not in self.conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._condition_cache[name] = bool(self._resolve(self.conditions[name]))
        return self._condition_cache[name]

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self._resolve(v) for v in value) if r is not NO_VALUE]
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                intrinsic = self._intrinsics.get(key)
                if intrinsic is not None:
                    return intrinsic(arg)
            resolved = {k: self._resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        return value

    def _pseudo(self, name: str) -> Any:
        region = local_region()
        values: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::StackName": LOCAL_STACK_NAME,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{region}:{LOCAL_ACCOUNT_ID}:stack/{LOCAL_STACK_NAME}/"
                "00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name!r}")
        return values[name]

    def _ref(self, arg: Any) -> Any:
        name = self._resolve(arg)
        if not isinstance(name, str):
            raise TemplateError(f"Ref needs a name, got {name!r}")
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.parameters:
            return self._parameter_value(name)
        if name in self.resources:
            return self._resource_ref(name)
        raise TemplateError(f"Ref to unknown parameter or resource {name!r}")

    def _parameter_value(self, name: str) -> Any:
        spec = self.parameters[name] or {}
        if name in self.parameter_overrides:
            value = self.parameter_overrides[name]
        else:
            value = _stringify(spec["Default"]) if "Default" in spec else ""
        ptype = str(spec.get("Type", "String"))
        if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
            return [v.strip() for v in value.split(",")] if value else []
        return value

    def _resource_ref(self, lid: str) -> str:
        rtype = self.resource_type(lid)
        name = self.physical_name(lid)
        region = local_region()
        if rtype == "AWS::SQS::Queue":
            return f"https://sqs.{region}.amazonaws.com/{LOCAL_ACCOUNT_ID}/{name}"
        if rtype == "AWS::SNS::Topic":
            return f"arn:aws:sns:{region}:{LOCAL_ACCOUNT_ID}:{name}"
        return name

    def _get_att(self, arg: Any) -> Any:
        parts = self._resolve(arg)
        if isinstance(parts, str):
            parts = parts.split(".", 1)
        if not isinstance(parts, list) or len(parts) != 2:
            raise TemplateError(f"Fn::GetAtt needs [resource, attribute], got {arg!r}")
        lid, attr = str(parts[0]), str(parts[1])
        if lid not in self.resources:
            raise TemplateError(f"Fn::GetAtt of unknown resource {lid!r}")
        return self._attribute(lid, attr)

    def _attribute(self, lid: str, attr: str) -> str:
        rtype = self.resource_type(lid) or ""
        name = self.physical_name(lid)
        region, account = local_region(), LOCAL_ACCOUNT_ID
        known: dict[tuple[str, str], str] = {
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{name}",
            ("AWS::S3::Bucket", "DomainName"): f"{name}.s3.amazonaws.com",
            ("AWS::S3::Bucket", "RegionalDomainName"): f"{name}.s3.{region}.amazonaws.com",
            ("AWS::DynamoDB::Table", "Arn"): f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            ("AWS::SQS::Queue", "Arn"): f"arn:aws:sqs:{region}:{account}:{name}",
            ("AWS::SQS::Queue", "QueueName"): name,
            ("AWS::SQS::Queue", "QueueUrl"): self._resource_ref(lid),
            ("AWS::SNS::Topic", "TopicArn"): f"arn:aws:sns:{region}:{account}:{name}",
            ("AWS::SNS::Topic", "TopicName"): name,
            ("AWS::Serverless::Function", "Arn"): f"arn:aws:lambda:{region}:{account}:function:{name}",
            ("AWS::Lambda::Function", "Arn"): f"arn:aws:lambda:{region}:{account}:function:{name}",
            ("AWS::KMS::Key", "Arn"): f"arn:aws:kms:{region}:{account}:key/{name}",
            ("AWS::KMS::Key", "KeyId"): name,
        }
        return known.get((rtype, attr), f"{name}-{attr.lower().replace('.', '-')}")

    _SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise TemplateError(f"Fn::Sub list form needs [string, {{vars}}], got {arg!r}")
            text, variables = arg[0], {k: self._resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub needs a string, got {text!r}")

        def substitute(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"  # ${!Literal} is an escaped, literal ${Literal}
            inner = inner.strip()
            if inner in variables:
                return _stringify(variables[inner])
            head, _, attr = inner.partition(".")
            if attr and head in self.resources:
                return self._attribute(head, attr)
            return _stringify(self._ref(inner))

        return self._SUB_VARIABLE.sub(substitute, text)

    def _join(self, arg: Any) -> str:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"Fn::Join needs [delimiter, [values]], got {arg!r}")
        delimiter, values = self._resolve(arg[0]), self._resolve(arg[1])
        return _stringify(delimiter).join(_stringify(v) for v in _as_list(values))

    def _select(self, arg: Any) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"Fn::Select needs [index, [values]], got {arg!r}")
        index, values = int(_stringify(self._resolve(arg[0]))), _as_list(self._resolve(arg[1]))
        if not 0 <= index < len(values):
            raise TemplateError(f"Fn::Select index {index} out of range for {values!r}")
        return values[index]

    def _split(self, arg: Any) -> list[str]:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"Fn::Split needs [delimiter, string], got {arg!r}")
        return _stringify(self._resolve(arg[1])).split(_stringify(self._resolve(arg[0])))

    def _truth(self, arg: Any) -> bool:
        value = self._resolve(arg)
        if isinstance(value, bool):
            return value
        raise TemplateError(f"expected a condition, got {value!r}")

    def _if(self, arg: Any) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            raise TemplateError(f"Fn::If needs [condition, then, else], got {arg!r}")
        return self._resolve(arg[1] if self.condition(str(arg[0])) else arg[2])

    def _equals(self, arg: Any) -> bool:
        if not isinstance(arg, list) or len(arg) != 2:
            raise TemplateError(f"Fn::Equals needs two values, got {arg!r}")
        left, right = (self._resolve(v) for v in arg)
        if isinstance(left, list | dict) or isinstance(right, list | dict):
            return bool(left == right)
        return _stringify(left) == _stringify(right)

    def _not(self, arg: Any) -> bool:
        return not self._truth(_as_list(arg)[0])

    def _and(self, arg: Any) -> bool:
        return all(self._truth(c) for c in _as_list(arg))

    def _or(self, arg: Any) -> bool:
        return any(self._truth(c) for c in _as_list(arg))

    def _condition_ref(self, arg: Any) -> bool:
        return self.condition(_stringify(self._resolve(arg)))

    def _find_in_map(self, arg: Any) -> Any:
        if not isinstance(arg, list) or len(arg) < 3:
            raise TemplateError(f"Fn::FindInMap needs [map, key, key], got {arg!r}")
        map_name, top, second = (_stringify(self._resolve(a)) for a in arg[:3])
        try:
            return self._resolve(self.mappings[map_name][top][second])
        except KeyError as e:
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self._resolve(arg[3]["DefaultValue"])  # AWS::LanguageExtensions form
            raise TemplateError(f"Fn::FindInMap: no {map_name}.{top}.{second}") from e

    def _base64(self, arg: Any) -> str:
        return base64.b64encode(_stringify(self._resolve(arg)).encode()).decode()

    def _get_azs(self, arg: Any) -> list[str]:
        region = _stringify(self._resolve(arg)) or local_region()
        return [f"{region}{zone}" for zone in "abc"]

    def _import_value(self, arg: Any) -> Any:
        raise UnresolvableError(f"Fn::ImportValue {arg!r} only exists in a deployed stack")
