"""A command processor for Rollcall: each expected customer's loyalty tier on a
date, from their orders in the 30 days up to it. Run over a week of dates at
once (`batch_dates = 7`): `python3 loyalty.py DATE DATE ...`, the expected
customers of every date on stdin, one answer per line naming its date."""
import csv, datetime, json, os, sys
from collections import defaultdict

if os.environ.get("LOYALTY_FAIL_ON") in sys.argv[1:]:  # for the fault tests
    sys.exit("the loyalty feed for " + os.environ["LOYALTY_FAIL_ON"] + " is missing")
days_of = defaultdict(list)  # customer -> dates of their orders
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "orders.csv")) as f:
    for row in csv.DictReader(f):
        if row["status"] != "cancelled":
            days_of[row["customer_id"]].append(datetime.date.fromisoformat(row["order_date"]))
for line in sys.stdin:
    asked = json.loads(line)
    customer, date = asked["entity"], datetime.date.fromisoformat(asked["date"])
    since = date - datetime.timedelta(days=29)
    n = sum(1 for d in days_of[customer] if since <= d <= date)
    answer = {"date": asked["date"], "entity": customer}
    if n < 2:
        answer["failure"] = {"category": "INSUFFICIENT_DATA", "reason": f"{n} order(s) in 30 days: no tier yet"}
    else:
        answer["record"] = {"tier": "gold" if n >= 8 else "silver" if n >= 4 else "bronze", "orders_30d": n}
    print(json.dumps(answer))
