// Package headers is the built-in filter that adds and removes message
// header fields at end of message.
//
// Added fields (Options.Add) are appended after the existing header
// section, in the configured order (SMFIR_ADDHEADER on the wire). Removed
// fields (Options.Remove) are matched by name, case-insensitively as RFC
// 5322 §1.2.2 requires, and every occurrence is deleted (SMFIR_CHGHEADER
// with an empty value).
//
// # Delete indexes
//
// A delete names a field by its 1-based occurrence among the fields of
// that name. Postfix's cleanup server finds that occurrence by walking the
// header list as it stands, and a deleted field leaves the walk (it becomes
// a pointer past itself), so after deleting occurrence 1 the old occurrence
// 2 is number 1. Sendmail keeps deleted fields in its count. The session
// therefore counts the occurrences it saw at the Header stage and deletes
// them from the highest index down to 1: every occurrence goes under both
// readings. Deletes are recorded before additions, so a configuration that
// removes and adds the same name replaces the field.
//
// Header values keep folding as CRLF followed by a space or tab (RFC 5322
// §2.2.3); ParseHeader turns bare LF folding from a configuration file into
// CRLF.
//
// Needs asks for the Header stage only when fields are to be removed, end
// of message only when there is anything to do, and no macro (an empty,
// non-nil Needs.Macros).
//
// The package does not rewrite field values, does not touch the body, and
// does not insert fields at a position (no SMFIR_INSHEADER).
package headers
