"""KLT's vocabulary: states, phases and object shapes with KLT's exact names and strings."""
