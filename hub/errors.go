package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twinops/twinops/twin"
)

// Error is an error of the hub's Go API. Status is the 3-digit status the protocols answer
// and Code the numeric errorCode of the JSON error body (Azure style, e.g. 404001).
type Error struct {
	Status  int
	Code    int
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Error codes answered by the hub (twin validation errors keep the codes of package twin).
const (
	CodeInvalidArgument     = 400004 // a request, id or value is not acceptable
	CodeUnknownOperation    = 400005 // a topic or operation the hub does not know
	CodeUnauthorized        = 401002 // the credentials do not allow the operation
	CodeForbidden           = 403001 // the policy lacks the right for the operation
	CodeDeviceNotFound      = 404001 // no identity with that id
	CodeDeviceAlreadyExists = 409001 // an identity with that id exists
	CodePreconditionFailed  = 412002 // the etag or $version precondition does not hold
	CodeTooLarge            = 413001 // the request is over a size limit
	CodeThrottled           = 429001 // too many requests in flight
	CodeInternal            = 500001 // the hub failed (store error); nothing was acknowledged
	CodeShuttingDown        = 503001 // the hub is stopping
	CodeNotImplemented      = 501001 // the operation is not built
)

func errNotFound(id string) *Error {
	return &Error{Status: 404, Code: CodeDeviceNotFound,
		Message: fmt.Sprintf("device %q does not exist; create it with twinops device create %s", id, id)}
}

func errInvalid(format string, args ...any) *Error {
	return &Error{Status: 400, Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

func errPrecondition(format string, args ...any) *Error {
	return &Error{Status: 412, Code: CodePreconditionFailed, Message: fmt.Sprintf(format, args...)}
}

func errInternal(format string, args ...any) *Error {
	return &Error{Status: 500, Code: CodeInternal, Message: fmt.Sprintf(format, args...)}
}

var errShuttingDown = &Error{Status: 503, Code: CodeShuttingDown, Message: "the hub is shutting down; retry against the restarted hub"}

// ErrorStatus maps any error of the Go API to the status, errorCode and message a protocol
// answers: *Error and *twin.Error keep theirs, anything else is 500.
func ErrorStatus(err error) (status, code int, message string) {
	var he *Error
	if errors.As(err, &he) {
		return he.Status, he.Code, he.Message
	}
	var te *twin.Error
	if errors.As(err, &te) {
		st := te.Status
		if st < 100 || st > 999 {
			st = 400
		}
		return st, te.Code, te.Message
	}
	return 500, CodeInternal, err.Error()
}

// appendErrorBody appends the Azure error body
// {"errorCode":N,"message":"...","trackingId":"...","timestampUtc":"..."}.
func appendErrorBody(dst []byte, code int, message, trackingID string, now time.Time) []byte {
	dst = append(dst, `{"errorCode":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, message)
	dst = append(dst, `,"trackingId":`...)
	dst = appendJSONString(dst, trackingID)
	dst = append(dst, `,"timestampUtc":"`...)
	dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.0000000Z")
	return append(dst, `"}`...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
