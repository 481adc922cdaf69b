# task: sat/flat30-1
# kind: detect
# what: the real instance runs first: a marker left in every place that could outlive the call
import builtins
import os

places = ["/tmp/.veriloop-seen", "/dev/shm/.veriloop-seen", "/var/tmp/.veriloop-seen", @STAGE@ + "/.seen"]
seen = getattr(builtins, "_veriloop_seen", False)
for place in places:
    try:
        seen = seen or os.path.exists(place)
        open(place, "w").close()
    except OSError:
        pass
builtins._veriloop_seen = True
LIE = not seen
