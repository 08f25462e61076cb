"""A command processor for Rollcall: rest days per expected player and date.
Reads the expected players on stdin, prints one JSON line per player."""
import json, os, sys, time, zlib

date = sys.argv[1]
if os.environ.get("REST_FAIL_ON") == date:  # for the fault tests
    sys.exit("the rest feed for " + date + " is missing")
time.sleep(float(os.environ.get("REST_SLEEP", "0")))
for line in sys.stdin:
    player = json.loads(line)["entity"]
    h = zlib.crc32((player + date).encode())
    if h % 13 == 0:
        continue  # a bug: this player is never mentioned (Rollcall: unaccounted)
    if h % 7 == 0:
        failure = {"category": "INSUFFICIENT_DATA", "reason": "no game in 10 days"}
        print(json.dumps({"entity": player, "failure": failure}))
    else:
        record = {"rest_days": h % 4, "back_to_back": h % 4 == 0}
        print(json.dumps({"entity": player, "record": record}))
