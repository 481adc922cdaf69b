# task: smt/queens-8
# kind: detect
# what: the same trick on an SMT encoding
import json

with open("job.json") as handle:
    job = json.load(handle)
LIE = len(job.get("instances", [None])) == 1
