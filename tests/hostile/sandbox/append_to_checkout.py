# task: sat/queens-8
# kind: escape
# what: appends to a file of the user's own checkout (verifiers/drat.py)
with open(@WRITABLE@, "a") as source:
    source.write("\nACCEPT_EVERYTHING = True\n")
assert open(@WRITABLE@).read().endswith("ACCEPT_EVERYTHING = True\n")
