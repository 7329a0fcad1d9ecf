"""CloudWatch Logs retention: the day counts the service accepts, as CDK enum members."""

from aws_cdk import aws_logs as logs

R = logs.RetentionDays
RETENTION_BY_DAYS: dict[int, logs.RetentionDays] = {
    1: R.ONE_DAY, 3: R.THREE_DAYS, 5: R.FIVE_DAYS, 7: R.ONE_WEEK, 14: R.TWO_WEEKS, 30: R.ONE_MONTH,
    60: R.TWO_MONTHS, 90: R.THREE_MONTHS, 120: R.FOUR_MONTHS, 150: R.FIVE_MONTHS, 180: R.SIX_MONTHS,
    365: R.ONE_YEAR, 400: R.THIRTEEN_MONTHS, 545: R.EIGHTEEN_MONTHS, 731: R.TWO_YEARS, 1096: R.THREE_YEARS,
    1827: R.FIVE_YEARS, 2192: R.SIX_YEARS, 2557: R.SEVEN_YEARS, 2922: R.EIGHT_YEARS, 3288: R.NINE_YEARS,
    3653: R.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    return RETENTION_BY_DAYS[days]


def check_retention_days(days: int) -> int:
    """Config validator: only the day counts CloudWatch Logs accepts."""
    if days not in RETENTION_BY_DAYS:
        raise ValueError(f"log_retention_days={days} is not a CloudWatch Logs value; use one of {sorted(RETENTION_BY_DAYS)}")
    return days
