"""A command processor for Rollcall: orders and revenue per customer and date.
Rollcall runs `python3 daily_totals.py DATE` with the date's expected customers
on stdin and writes the JSON lines this prints (README, "Command processors")."""
import csv, datetime, json, os, sys

date = sys.argv[1]
if os.environ.get("DAILY_FAIL_ON") == date:  # for the fault tests
    sys.exit("the order feed for " + date + " is missing")
orders = {}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "orders.csv")) as f:
    for row in csv.DictReader(f):
        if row["order_date"] == date and row["status"] != "cancelled":
            orders.setdefault(row["customer_id"], []).append(row)
weekend = datetime.date.fromisoformat(date).weekday() >= 5
for line in sys.stdin:
    customer = json.loads(line)["entity"]
    if weekend and customer.endswith("7"):
        continue  # a bug: Rollcall shows these customers as unaccounted
    mine = orders.get(customer, [])
    unpriced = [o["order_id"] for o in mine if not o["amount"]]
    if unpriced:
        failure = {"category": "INCOMPLETE_DATA", "reason": "no amount on " + ", ".join(unpriced)}
        print(json.dumps({"entity": customer, "failure": failure}))
        continue
    record = {"orders": len(mine), "revenue": round(sum(float(o["amount"]) for o in mine), 2)}
    print(json.dumps({"entity": customer, "record": record}))
