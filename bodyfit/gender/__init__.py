"""Which body model (male, female or neutral) fits a person: a ResNet-18 over the person's crop,
with Homogenus's rules for when to stay neutral."""
