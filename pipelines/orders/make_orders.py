"""Writes orders.csv, the orders pipeline's demo data: 120 customers over
2024-03-01..2024-03-28, deterministic (run it again: the same file)."""
import csv, datetime, random

rng = random.Random(7)
customers = [f"C{n:04d}" for n in range(1, 121)]
# Some customers order often, most now and then.
rate = {c: rng.choice([0.08, 0.15, 0.3, 0.6]) for c in customers}
start = datetime.date(2024, 3, 1)
rows, serial = [], 0
for day in range(28):
    date = start + datetime.timedelta(days=day)
    for c in customers:
        for _ in range(2 if rng.random() < 0.05 else 1):
            if rng.random() >= rate[c]:
                continue
            serial += 1
            status = "cancelled" if rng.random() < 0.04 else "paid"
            amount = "" if rng.random() < 0.01 else f"{rng.uniform(5, 250):.2f}"
            rows.append([c, date.isoformat(), f"O-{serial:05d}", amount, status])
with open("orders.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["customer_id", "order_date", "order_id", "amount", "status"])
    w.writerows(rows)
