"""Signed webhooks from partners (payment confirmations, postal tracking): the one intake every
connector that is called back reuses. A connector configures a `SignatureScheme` and an
`AnswerFormat` per partner and hands `SignedWebhooks.receive` its own handling of a verified
body; size limit, signature, staleness, replays, answers, counts and the message log are here.
"""
