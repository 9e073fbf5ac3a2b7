package protocol

import (
	"fmt"
	"strconv"
	"strings"
)

// DecodeError reports a message body that Decode could not turn into a
// Message. It names the message type (when the envelope got that far) and
// the offending field.
type DecodeError struct {
	// MessageType is the wire type of the message, or "" when the envelope
	// itself is malformed before a type could be read.
	MessageType string
	// Field is the path of the offending field: an envelope field ("type",
	// "data", "node_id"), or a payload key such as "timestamp" or
	// "stats[0].response_times". It is "" when no single field is at fault
	// (for example trailing bytes after the envelope).
	Field string
	// Err is the underlying cause.
	Err error
}

// Error returns a message of the form
// `protocol: spawn: field "timestamp": expected number, got str`.
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("protocol: ")
	if e.MessageType != "" {
		b.WriteString(e.MessageType)
	} else {
		b.WriteString("envelope")
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(strconv.Quote(e.Field))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("invalid message")
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// pathError carries the path of a field while a decode error travels up the
// payload decoders; Decode turns it into DecodeError.Field.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func joinPath(outer, inner string) string {
	if inner == "" {
		return outer
	}
	if strings.HasPrefix(inner, "[") {
		return outer + inner
	}
	return outer + "." + inner
}

// fieldErr prefixes err's path with the field name.
func fieldErr(name string, err error) error {
	if err == nil {
		return nil
	}
	if pe, ok := err.(*pathError); ok {
		return &pathError{path: joinPath(name, pe.path), err: pe.err}
	}
	return &pathError{path: name, err: err}
}

// indexErr prefixes err's path with an array index.
func indexErr(i int, err error) error {
	return fieldErr("["+strconv.Itoa(i)+"]", err)
}

// keyErr marks an error found in a map key rather than in a value.
func keyErr(err error) error {
	return fmt.Errorf("map key: %w", err)
}

// splitPath separates the field path from the cause.
func splitPath(err error) (string, error) {
	if pe, ok := err.(*pathError); ok {
		return pe.path, pe.err
	}
	return "", err
}
