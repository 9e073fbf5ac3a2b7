package worker

// This file owns what a request of either HTTP client gives back: the
// Response, its judgement (status rule or check), the RequestError with
// Locust's texts, and the body reading both share. request.go holds the
// core that makes them.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golocust/golocust/stats"
)

// Response is a completed HTTP response with its body read. An
// [HTTPClient]'s is the caller's to keep. A [FastHTTPClient] reuses its
// responses, fasthttp's rule: its Response is valid only until that
// client's next request starts, unless the client was told to keep them
// ([FastHTTPClient.SetReuseResponses]).
type Response struct {
	// StatusCode is the HTTP status, e.g. 200.
	StatusCode int
	// Status is the status line's text, e.g. "200 OK".
	Status string
	// Header holds the response headers.
	Header http.Header
	// Body is the whole response body.
	Body []byte
	// URL is the final URL, after redirects.
	URL *url.URL
	// Elapsed is the response time recorded for the request.
	Elapsed time.Duration

	name, method, errURL string
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("response of %s %s: %w", r.method, r.name, err)
	}
	return nil
}

// Text returns the body as a string.
func (r *Response) Text() string { return string(r.Body) }

// Contains reports whether the body contains s.
func (r *Response) Contains(s string) bool { return bytes.Contains(r.Body, []byte(s)) }

// StatusError returns a *[RequestError] of kind HTTPError when the status
// is 400 or more, the rule of raise_for_status in Python's requests, and
// nil otherwise.
func (r *Response) StatusError() error {
	if r.StatusCode < 400 {
		return nil
	}
	return r.statusError()
}

func (r *Response) statusError() *RequestError {
	class := "Client"
	if r.StatusCode >= 500 {
		class = "Server"
	}
	reason := strings.TrimSpace(strings.TrimPrefix(r.Status, fmt.Sprint(r.StatusCode)))
	if reason == "" {
		reason = http.StatusText(r.StatusCode)
	}
	return &RequestError{
		Method: r.method, Name: r.name, StatusCode: r.StatusCode, Kind: "HTTPError",
		Err: fmt.Errorf("%d %s Error: %s for url: %s", r.StatusCode, class, reason, nameOr(r.failureURL(), r.name)),
	}
}

// failureURL is the URL an HTTPError names, as in Locust: the row name
// when the request had one, else the final URL.
func (r *Response) failureURL() string {
	if r.errURL == "" && r.URL != nil {
		return r.URL.String()
	}
	return r.errURL
}

// judge returns the request's failure, nil for a success: check's verdict
// when there is a check, else the status rule.
func (r *Response) judge(check func(*Response) error) *RequestError {
	if check == nil {
		if r.StatusCode >= 400 {
			return r.statusError()
		}
		return nil
	}
	err := runCheck(check, r)
	if err == nil {
		return nil
	}
	if failure := asRequestError(err); failure != nil {
		return failure
	}
	return &RequestError{Method: r.method, Name: r.name, StatusCode: r.StatusCode, Kind: "CatchResponseError", Err: err}
}

// asRequestError returns the *RequestError in err's chain, or nil.
func asRequestError(err error) *RequestError {
	var re *RequestError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// runCheck calls check, turning a panic into an error.
func runCheck(check func(*Response) error, r *Response) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in check: %v", v)
		}
	}()
	return check(r)
}

// RequestError is a failed request. It is recorded in the statistics
// before it is returned.
type RequestError struct {
	// Method and Name are the request's statistics row.
	Method, Name string
	// StatusCode is the response status, or 0 when no response arrived.
	StatusCode int
	// Kind is the Python exception name Locust would show: HTTPError,
	// ConnectionError, Timeout, CatchResponseError, TooManyRedirects, MissingSchema,
	// InvalidURL, ResponseTooLarge (a body over [MaxBodySize]), or
	// RequestCancelled for a request cut short because the user was
	// stopping.
	Kind string
	// Err is the cause, whose text Locust's failure table shows.
	Err error
}

// Error returns "METHOD name: cause".
func (e *RequestError) Error() string { return fmt.Sprintf("%s %s: %v", e.Method, e.Name, e.Err) }

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// LocustText returns the error as Locust shows it, e.g.
// HTTPError('404 Client Error: Not Found for url: http://host/x') (the
// url is the row name when [Name] was given, as in Locust).
func (e *RequestError) LocustText() string {
	return e.Kind + "(" + stats.PyRepr(e.Err.Error()) + ")"
}

// recordedError marks an error that is already in the statistics.
type recordedError struct{ err error }

func (e *recordedError) Error() string { return e.err.Error() }
func (e *recordedError) Unwrap() error { return e.err }

// isRecorded reports whether err is a request failure already recorded.
func isRecorded(err error) bool {
	var re *RequestError
	var rec *recordedError
	return errors.As(err, &re) || errors.As(err, &rec)
}

// bodyPrealloc is the most readBody allocates before the bytes arrive: a
// body's announced length is only a promise (a header saying 4 MiB may
// come with no body at all).
const bodyPrealloc = 64 << 10

// kindResponseTooLarge is the RequestError kind of a response whose body
// is longer than the maximum set with [MaxBodySize] or SetMaxBodySize.
const kindResponseTooLarge = "ResponseTooLarge"

// bodyTooLargeError is a body over the maximum.
type bodyTooLargeError struct{ max int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("response body larger than the maximum of %d bytes", e.max)
}

// bodyError classifies an error reading a response body.
func bodyError(ctx context.Context, method, name string, status int, err error) *RequestError {
	var big *bodyTooLargeError
	if errors.As(err, &big) {
		return &RequestError{Method: method, Name: name, StatusCode: status, Kind: kindResponseTooLarge, Err: err}
	}
	return transportError(ctx, method, name, err)
}

// readBody reads a response body of the announced length (-1: unknown)
// and at most limit bytes (0: no limit). It allocates once when the body
// is small and as announced; otherwise its memory follows the bytes
// received. A body over limit is an error of type *bodyTooLargeError,
// with the first limit bytes.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	return readBodyInto(nil, r, length, limit)
}

// readBodyInto is readBody reading into dst's memory (from dst[:0]) when
// it has room for what readBody would allocate first.
func readBodyInto(dst []byte, r io.Reader, length, limit int64) ([]byte, error) {
	if limit > 0 && length > limit {
		return nil, &bodyTooLargeError{max: limit}
	}
	size := int64(512)
	if length >= 0 {
		size = min(length, bodyPrealloc) + 1 // +1: room to see io.EOF without growing
	}
	b := dst[:0]
	if int64(cap(b)) < size {
		b = make([]byte, 0, size)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than announced: grow
		}
		end := cap(b)
		if limit > 0 {
			end = int(min(int64(end), limit+1))
		}
		n, err := r.Read(b[len(b):end])
		b = b[:len(b)+n]
		switch {
		case limit > 0 && int64(len(b)) > limit:
			return b[:limit], &bodyTooLargeError{max: limit}
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		}
	}
}
