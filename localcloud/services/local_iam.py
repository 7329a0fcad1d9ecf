"""IAM for a local run: the template's roles recreated in moto, credentials of each role for the process
that runs under it, and one authorizer every local service asks before it acts.

- `LocalIam.credentials(role)`: the role is created in moto (its policies as synthesized) and assumed;
  the returned variables go into the environment of the one process running as that role (a Lambda
  function's workers, a Batch job, an ECS task). moto's AssumeRole fails on a trust policy whose only
  principal is a service, so the recreated trust policy also trusts this runner.
- `LocalIam.authorize(...)`: one evaluation (localcloud/services/iam_policy.py) of a principal's policies; a
  refusal raises `AccessDenied` with AWS's wording (principal, action, resource). The local emulators call
  it for requests signed with a role's key (`authorize_key`) and for what a service does on a role's
  behalf (the state machine role invoking a function, the Lambda service writing a function's logs).
- `enforce()`: while it is active moto checks every S3/SQS/STS/SSM/EC2 request against the same
  authorizer (INITIAL_NO_AUTH_ACTION_COUNT = 0 and moto's permission check routed here), so a handler's
  own boto3 calls are allowed or refused by its role's policies; EC2 and SSM requests are checked on the
  resources and condition keys AWS uses (services/moto_requests.py). A session a role opens with
  sts:AssumeRole of another prepared role (the AutoMon launcher role) is that role. The runner itself
  signs as an IAM user with an allow-all policy: the one principal outside the template (it plays the
  person at the console).

Every evaluation of a template role is counted (`stats`): calls and distinct (role, action) pairs.
"""

from __future__ import annotations

import html
import json
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from localcloud.asl import PLACEHOLDER_ACCOUNT
from localcloud.services.api_server import ApiError
from localcloud.services.iam_policy import denial_message, evaluate, unsupported_operators
from localcloud.services.moto_requests import authorizations
from localcloud.services.template_roles import RoleSpec

RUNNER_USER = "local-runner"
RUNNER_ARN = f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:user/{RUNNER_USER}"
SESSION = "local"


class AccessDenied(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


@dataclass(frozen=True)
class Principal:
    role: RoleSpec

    @property
    def arn(self) -> str:
        """How AWS names a role's session in an AccessDenied message."""
        return f"arn:aws:sts::{PLACEHOLDER_ACCOUNT}:assumed-role/{self.role.name}/{SESSION}"


@dataclass
class IamStats:
    calls: int = 0
    denied: int = 0
    pairs: Counter = None  # (role name, action) -> evaluations

    def __post_init__(self) -> None:
        self.pairs = Counter()

    def summary(self) -> dict:
        return {"calls_evaluated": self.calls, "denied": self.denied, "distinct_role_action_pairs": len(self.pairs)}


class LocalIam:
    def __init__(self, moto_url: str, region: str = "us-east-1") -> None:
        import boto3

        self.moto_url, self.region = moto_url, region
        self.stats = IamStats()
        self.denials: list[str] = []
        self._by_key: dict[str, Principal] = {}
        self._roles: dict[str, RoleSpec] = {}  # prepared roles by ARN
        self._credentials: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        # set up before enforcement starts: the runner's own user (allow-all)
        iam = boto3.client("iam", endpoint_url=moto_url, region_name=region, **_BOOTSTRAP)
        iam.create_user(UserName=RUNNER_USER)
        iam.put_user_policy(UserName=RUNNER_USER, PolicyName="local-runner", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName=RUNNER_USER)["AccessKey"]
        self.runner_credentials = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                                   "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                                   "AWS_DEFAULT_REGION": region}

    def client(self, service: str, region: str | None = None):
        """A boto3 client signed as the runner (setting up, uploading inputs, reading results)."""
        import boto3

        return boto3.client(service, endpoint_url=self.moto_url, region_name=region or self.region,
                            aws_access_key_id=self.runner_credentials["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.runner_credentials["AWS_SECRET_ACCESS_KEY"])

    # --- roles and their credentials ---------------------------------------------------------------
    def prepare(self, roles) -> None:
        """Create each role in moto (its policies as synthesized) and open a session of it. Done before
        `enforce()`: moto's own trust check cannot read a service principal."""
        iam, sts = self.client("iam"), self.client("sts")
        for role in roles:
            if role.arn in self._credentials:
                continue
            self._roles[role.arn] = role
            if role.unexpanded:
                raise NotImplementedError(f"role {role.name} carries managed policies this runner does not know: "
                                          f"{list(role.unexpanded)}")
            unknown = unsupported_operators(role.policies)
            if unknown:
                raise NotImplementedError(f"role {role.name} uses condition operators not evaluated locally: {unknown}")
            trust = json.loads(json.dumps(role.trust)) or {"Version": "2012-10-17", "Statement": []}
            # the services named there are played by this runner, which opens the sessions
            trust.setdefault("Statement", []).append(
                {"Effect": "Allow", "Principal": {"AWS": RUNNER_ARN}, "Action": "sts:AssumeRole"})
            iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(trust))
            for index, document in enumerate(role.policies):
                iam.put_role_policy(RoleName=role.name, PolicyName=f"policy{index}", PolicyDocument=json.dumps(document))
            session = sts.assume_role(RoleArn=role.arn, RoleSessionName=SESSION)["Credentials"]
            self._by_key[session["AccessKeyId"]] = Principal(role)
            self._credentials[role.arn] = {
                "AWS_ACCESS_KEY_ID": session["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
                "AWS_SESSION_TOKEN": session["SessionToken"],
            }

    def credentials(self, role: RoleSpec) -> dict[str, str]:
        """Environment variables of the session of `role` (see prepare)."""
        if role.arn not in self._credentials:
            raise KeyError(f"role {role.name} was not prepared before the run")
        return self._credentials[role.arn]

    def principal_of_key(self, access_key_id: str) -> Principal | None:
        """The role a key is a session of: one prepare() opened, or one a role opened in moto with
        sts:AssumeRole (whose trust policy was checked then)."""
        principal = self._by_key.get(access_key_id)
        if principal is None:
            from moto.sts.models import sts_backends

            assumed = sts_backends[PLACEHOLDER_ACCOUNT]["aws"].get_assumed_role_from_access_key(access_key_id)
            role = self._roles.get(assumed.role_arn) if assumed is not None else None
            if role is not None:
                principal = self._by_key.setdefault(access_key_id, Principal(role))
        return principal

    # --- authorization -----------------------------------------------------------------------------
    def authorize(self, role: RoleSpec, action: str, resource: str | None,
                  context: Mapping[str, Any] | None = None, *, on_behalf: str = "") -> None:
        """Raise AccessDenied unless `role`'s policies allow `action` on `resource`. `on_behalf` names the
        service acting with the role (e.g. "Step Functions"), for the message."""
        principal = Principal(role)
        decision = evaluate(role.policies, action, resource, context)
        with self._lock:
            self.stats.calls += 1
            self.stats.pairs[(role.name, action)] += 1
            if not decision.allowed:
                self.stats.denied += 1
        if not decision.allowed:
            message = denial_message(principal.arn, action, resource, decision)
            if on_behalf:
                message += f" ({on_behalf} acts with this role)"
            self.denials.append(message)
            raise AccessDenied(message)

    def authorize_key(self, access_key_id: str, action: str, resource: str | None,
                      context: Mapping[str, Any] | None = None) -> None:
        """For a request to a local emulator signed with `access_key_id`: the runner may do anything; a
        role's session is authorized by its policies; any other key is refused."""
        if access_key_id == self.runner_credentials["AWS_ACCESS_KEY_ID"]:
            return
        principal = self.principal_of_key(access_key_id)
        if principal is None:
            raise ApiError("UnrecognizedClientException", f"The security token included in the request is invalid "
                                                           f"(access key {access_key_id!r} was not issued by this run)")
        self.authorize(principal.role, action, resource, context)

    # --- moto ----------------------------------------------------------------------------------------
    @contextmanager
    def enforce(self) -> Iterator[LocalIam]:
        """moto authorizes every request through this object while the block runs."""
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam.access_control import IAMRequestBase

        saved = settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count
        original = IAMRequestBase.check_action_permitted
        local_iam = self

        def check_action_permitted(request: IAMRequestBase, resource: str) -> None:
            local_iam._moto_check(request, resource, original)

        IAMRequestBase.check_action_permitted = check_action_permitted
        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = 0, 0
        try:
            yield self
        finally:
            IAMRequestBase.check_action_permitted = original
            settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved

    def _moto_check(self, request, resource: str, original) -> None:
        principal = self.principal_of_key(request._access_key._access_key_id)
        if principal is None:
            return original(request, resource)  # the runner's user: moto evaluates its allow-all policy
        action = request._action
        if action == "sts:GetCallerIdentity":
            return None  # always allowed, as on AWS
        arn = None if resource in ("*", "arn:aws:s3:::*") else resource
        checks = authorizations(request, action)
        if checks is None:
            checks = [(action, one, _moto_context(request, action)) for one in _per_object(request, action, arn)]
        try:
            for one_action, one, context in checks:
                self.authorize(principal.role, one_action, one, context)
        except AccessDenied as denied:
            raise _moto_error(request, str(denied)) from None
        if action == "sts:AssumeRole" and arn is not None:
            self._check_trust(request, principal, arn)

    def _check_trust(self, request, principal: Principal, role_arn: str) -> None:
        """The target role's trust policy must name the caller's role (moto compares session ARNs)."""
        from moto.iam.models import iam_backends

        role = iam_backends[PLACEHOLDER_ACCOUNT]["aws"].get_role_by_arn(role_arn)
        trust = json.loads(role.assume_role_policy_document)
        statements = trust["Statement"] if isinstance(trust["Statement"], list) else [trust["Statement"]]
        for statement in statements:
            trusted = statement.get("Principal", {}).get("AWS", [])
            trusted = trusted if isinstance(trusted, list) else [trusted]
            if statement.get("Effect") == "Allow" and (principal.role.arn in trusted or "*" in trusted):
                return
        message = (f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn} "
                   f"(its trust policy does not name {principal.role.arn})")
        self.denials.append(message)
        raise _moto_error(request, message)


def _per_object(request, action: str, resource: str | None) -> list[str | None]:
    """S3 authorizes a multi-object delete (DeleteObjects) as s3:DeleteObject on each key; moto names the
    bucket."""
    if action != "s3:DeleteObject" or resource is None or "/" in resource.split(":::", 1)[-1]:
        return [resource]
    body = request._body.decode() if isinstance(request._body, bytes) else str(request._body or "")
    keys = [html.unescape(k) for k in re.findall(r"<Key>(.*?)</Key>", body, re.DOTALL)]
    return [f"{resource}/{key}" for key in keys] or [resource]


def _moto_context(request, action: str) -> dict[str, Any]:
    """The condition keys the templates test that a moto request carries (s3:prefix for ListBucket)."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(request._path).query)
    context = {}
    if action == "s3:ListBucket" and "prefix" in query:
        context["s3:prefix"] = query["prefix"][0]
    return context


def _moto_error(request, message: str) -> Exception:
    from moto.core.exceptions import AccessDeniedError, JsonRESTError, _RESTError
    from moto.s3.exceptions import S3AccessDeniedError, S3ClientError

    if request._service == "s3":
        error = S3AccessDeniedError()
        S3ClientError.__init__(error, "AccessDenied", message)  # moto's S3 error, with AWS's full wording
        return error
    if "X-Amz-Target" in request._headers:  # a JSON-protocol request (SQS, SSM): a JSON error body
        error = JsonRESTError("AccessDenied", message)
    else:
        error = AccessDeniedError.__new__(AccessDeniedError)
        _RESTError.__init__(error, "AccessDenied", message)
    error.code = 403
    return error


# moto accepts any key while enforcement is off; these sign the bootstrap requests
_BOOTSTRAP = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
