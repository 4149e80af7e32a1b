"""The one door the UI knocks on: :class:`Analysis` (every question a panel asks, memoised by the model's
version), the answers it gives, and :class:`Comparison`, which asks two analyses. Imports every floor below."""
