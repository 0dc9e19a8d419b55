// Package queue is sluice's durable mail spool: it stores accepted messages
// on disk, recovers them after a crash, and runs their delivery through a
// Deliverer with retries, bounces and operator controls.
//
// # Spool layout
//
// Everything lives under Options.Dir:
//
//	lock          flock(2)ed by the process that owns the queue; holds its pid
//	log/N.seg     the log: small messages (body up to Options.LogMaxMessage,
//	              128 KiB by default), many to a segment file, and the
//	              deletes that retire them (format in segment.go)
//	q/ID.msg      a message too big for the log, or one whose record changed
//	              after commit: the body, then the final header section
//	              appended at commit (the record says where the header
//	              starts), then the first record and a trailer line that
//	              locates it from the end of the file
//	q/ID.json     the record (Record) once it changed after commit; it
//	              overrides the one in q/ID.msg
//	tmp/          drafts being received and record temp files
//	bad/          messages and records that could not be read at start-up
//	ctl/          operation requests from other processes (sluice queue)
//
// Records are indented JSON, human-readable (the end of q/ID.msg shows the
// first one). The content file is written once and never changed after
// commit; q/ID.json is replaced (temp file, fsync, rename) whenever the
// delivery state changes. Delivery reads the first Size bytes of q/ID.msg
// only, so the embedded record never reaches a deliverer.
//
// # Durability
//
// A message is durable before Draft.Commit (or Put) returns. A small one
// is received in memory and committed as one log entry (its content and
// first record, with a CRC-32C): one committer goroutine appends every
// entry handed to it before it starts a batch to the current segment and
// fsyncs the segment once, so concurrent commits share one fsync (group
// commit), and each caller returns only after the fsync that covers its
// entry. A big message is streamed to a file in tmp/ holding its content
// and first record, which is fsynced, renamed into q/, and q/ is fsynced;
// concurrent commits share that directory fsync the same way. A failed
// append is cut off the segment again (or the segment is abandoned when
// that fails or the fsync failed), so a message whose commit failed does
// not come back at the next start.
//
// Delivering or deleting a logged message appends a delete entry.
// Segments are removed oldest first once none of their messages is live
// and they are not being written, each removal made durable before the
// next, so a delete never disappears before the entry it cancels. The
// first time a logged message's record changes (a deferral, a hold), the
// message moves to q/ID.msg with the new record, and a delete entry then
// retires its log copy; a message that waits for days therefore pins no
// segment. Later record updates are durable in
// the same way (temp file, fsync, rename, shared directory fsync).
// Removing a message unlinks q/ID.msg, syncs q/, then unlinks q/ID.json: a
// crash in between leaves a record without content, which recovery
// removes, never content that its embedded record would bring back. I/O
// failures (disk full included) are returned as errors matching
// ErrTemporary, which an SMTP server answers with 452 4.3.1.
//
// # Recovery
//
// Open removes everything in tmp/ (drafts and record temp files of a
// crashed process), reads the log in order (a put adds a message, a
// delete removes it; an entry cut short or failing its CRC ends that
// segment's scan: it is what a crash interrupted), loads every message in
// q/ with q/ID.json if present,
// else the record embedded in q/ID.msg, moves to bad/ with a log line the
// messages whose content file has no valid record trailer or whose record
// is unreadable or does not match the content, and removes records without
// a content file (an unfinished delete). A message found both in the log
// and in q/ (a crash during its move) keeps its file, and its log copy is
// retired. Delivery is at least once: a
// crash after the downstream accepted a message and before the record is
// updated delivers it again.
//
// # Delivery
//
// Run is the queue runner: one scheduler goroutine with a kick channel and
// a timer hands due messages to at most RunOptions.Concurrency workers,
// each calling a Deliverer. Per-recipient results update the record
// durably. Transient failures are retried on the Options.Retry schedule
// with jitter (NextAttempt); permanent failures, and recipients still
// pending after Options.MaxAge, produce an RFC 3464 delivery status
// notification (multipart/report; RFC 3461 NOTIFY, RET and ENVID honoured)
// queued to the sender, never to the null sender. Delay warnings are
// optional (RunOptions.DelayWarning).
//
// Options.Observer, when set, hears of each recipient's delivery result
// and each DSN queued, for metrics; Len gives the number queued.
//
// # Operations from other processes
//
// One process owns a queue directory at a time: Open takes an exclusive
// flock(2) on Dir/lock and holds it until Close. List and Show read the
// files and work from any process. Hold, Release, Delete and Flush from a
// process that is not the owner (OpenControl, used by `sluice queue` while
// `sluice serve` runs) write a request file to ctl/; the owner's runner
// applies it and writes the answer next to it. When no process owns the
// queue, OpenControl becomes the owner and applies the operation itself.
//
// Recipients whose NOTIFY asks for SUCCESS get a "delivered" or "relayed"
// DSN according to the deliverer's envelope.Handoff (none when the
// downstream took the DSN parameters over), kept in the record so that a
// report that could not be queued at once is retried right; a notification about an
// SMTPUTF8 message or naming a non-ASCII address is an RFC 6533 one,
// queued with SMTPUTF8.
//
// It does not deliver anything itself (the smtpclient package and the
// maildir writer satisfy Deliverer) and does not parse or change message
// content beyond building DSNs.
// Locking uses flock(2): the package works on Unix systems only.
package queue
