"""Content pushed from above: CAP 1.2 alerts and signed envelopes (docs/alerts.md).

cap.py parses CAP from hostile bytes; envelope.py verifies the authority's signature;
state.py is the box's alert book (pure); choice.py decides which alert a screen shows and
when (pure); the runtime's shell around them is signage/runtime/alertfeed.py.
"""

#: the category of an alert showing in the log and on screen (anti-fraud content)
ALERT_CATEGORY = "预警"
#: the start of a drill's text on screen (CAP status Exercise or Test)
DRILL_MARK = "【演练】"
