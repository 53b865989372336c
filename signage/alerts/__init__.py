"""Content pushed from above: CAP 1.2 alerts and signed envelopes (docs/alerts.md).

cap.py parses CAP from hostile bytes; envelope.py verifies the authority's signature;
state.py is the box's alert book (pure); choice.py decides which alert a screen shows and
when (pure); the runtime's shell around them is signage/runtime/alertfeed.py.
"""
