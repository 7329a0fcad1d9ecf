"""Science and runtime code for the experiments. Never imports boto3: AWS glue lives in lambda/ and containers/."""
