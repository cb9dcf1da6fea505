"""Online payment of fees (phí, lệ phí): payment requests to a provider, signed confirmations
back (webhooks), receipts (biên lai) and reconciliation. One generic connector; each provider
(the national portal's payment platform, a bank, the post office's counter collection) is a
partner with `connector: payment`, its signature scheme in options and its field names in
mapping specs. docs/payments.md describes the protocols and the answers.
"""
