"""The national demo network: real hub hospitals, bridge points in every province, staff,
patients and one account per role (``telebridge demo``, ``telebridge stats``)."""
