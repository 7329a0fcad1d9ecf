"""One Lambda execution environment: `python -m localcloud.services.lambda_worker <handler folder>`.

Started by localcloud.services.lambda_runtime with the function's environment (its variables, its role's
credentials, the local endpoints). Reads one invocation per line on stdin ({"event", "function_name",
"timeout_s"}) and answers one line ({"response"} or {"errorType", "errorMessage", "stackTrace"}) on the
stdout it was started with; whatever the handler prints goes to stderr, the function's log.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def main(folder: str) -> int:
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the handler's prints (Powertools logs to stdout) go to the log, not the protocol
    sys.stdout = sys.stderr
    from localcloud.lambdas import load_handler
    from localcloud.sfn.integrations import LambdaContext

    handler = load_handler(folder)
    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext(request["function_name"], request["timeout_s"])
        try:
            answer = {"response": handler(request["event"], context)}
        except Exception as exc:  # reported as the Lambda runtime reports a function error
            traceback.print_exc()
            answer = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                      "stackTrace": traceback.format_tb(exc.__traceback__)}
        answers.write(json.dumps(answer, default=str) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
