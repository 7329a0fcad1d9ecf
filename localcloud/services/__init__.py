"""A local stand-in for the AWS services the workflows use, so the synthesized state machines run here.

- moto_server:    S3 and SQS (moto's server mode on 127.0.0.1, shared by every process)
- batch_emulator: AWS Batch's SubmitJob/DescribeJobs/TerminateJob over HTTP; jobs run as local processes
- event_sources:  the SQS -> Lambda event source mapping (batches, partial failures, FIFO groups)
- template:       what the runner reads from a synthesized template (functions, job definitions, rules)
- template_roles: the template's roles with their policies, intrinsics resolved to local values
- iam_policy:     the IAM evaluator (Allow/Deny, NotAction/NotResource, wildcards, condition operators)
- local_iam:      the roles in moto, a session per role, the authorizer moto and the emulators share
- stack_iam:      which role each function/job/state machine runs as, and what AWS checks on its behalf
- lambda_runtime: each Lambda function as its own worker processes (lambda_worker) with its role's session
Clients reach them through boto3's standard AWS_ENDPOINT_URL_<SERVICE> variables: handlers and
workers run unmodified.
"""
