// Package maildir delivers queued messages into a maildir: the local
// delivery target of the queue runner ("maildir:/path" in
// [downstream].address, and the default "./var/mail" of `sluice serve`
// without a configuration). A Maildir satisfies the runner's deliverer
// interface.
//
// Delivery follows the maildir convention (qmail's maildir(5), D. J.
// Bernstein's "Using maildir format"): the message is written to
// DIR/tmp under a unique name, fsynced and closed, hard-linked into
// DIR/new (renamed where the file system has no hard links), the tmp name
// is removed and DIR/new is fsynced, so a message is either wholly in new
// or not there. Unique names are "<seconds>.<pid>_<sequence>.<host>",
// with "/" and ":" in the host name written as \057 and \072; a name that
// is taken already (O_EXCL in tmp, link in new) moves on to the next
// sequence number.
//
// What is written: a "Return-Path: <sender>" line, then the message as
// queued. One copy per message serves every recipient (the maildir is one
// mailbox), without Delivered-To, since a single copy cannot name each
// recipient; with Options.PerRecipient each recipient gets a copy of its
// own that starts with "Delivered-To: <recipient>". Line ends are LF, the
// Unix convention mail readers expect of maildir files; Options.KeepCRLF
// keeps the CRLF of the wire.
//
// Every recipient is Delivered (with envelope.HandoffFinal: the queue owes
// a "delivered" DSN to recipients whose NOTIFY asks for SUCCESS), or
// Deferred with the error when the copy could not be made (4.3.1 when the
// disk is full or over quota, 4.3.0 otherwise); a maildir never fails a
// message permanently.
//
// It does not deliver to one maildir per recipient, apply quotas, or set
// maildir flags or the ",S=" size suffix.
package maildir
