#!/bin/sh
# Stand-in for the Lambda base image's entrypoint: the one argument is the handler (the image's CMD);
# the runtime interface client then asks AWS_LAMBDA_RUNTIME_API for invocations.
# AWS's image starts its runtime interface emulator when that variable is unset; this stand-in has none.
if [ "$#" -ne 1 ]; then
    echo "usage: lambda-entrypoint.sh <module.function> (the image's CMD)" >&2
    exit 142
fi
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
    echo "AWS_LAMBDA_RUNTIME_API is not set, and this stand-in base has no runtime interface emulator" >&2
    exit 142
fi
export _HANDLER="$1"
cd "${LAMBDA_TASK_ROOT}" || exit 142
# The task root comes first on sys.path (python -m puts the working directory there), then the runtime.
PYTHONPATH="${LAMBDA_RUNTIME_DIR}" exec python3 -m awslambdaric "$_HANDLER"
