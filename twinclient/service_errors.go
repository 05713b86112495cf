package twinclient

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Error is an error answer of the hub, as it came: the 3-digit status of the response
// topic and the errorCode and message of its JSON body.
type Error struct {
	Status  int
	Code    int
	Message string
}

// Error returns the hub's message with its status and code.
func (e *Error) Error() string {
	return fmt.Sprintf("hub: %s (status %d, code %d)", e.Message, e.Status, e.Code)
}

// ErrDisconnected is returned by a request whose connection dropped before the answer
// came. The request may or may not have been carried out: read the state and retry.
var ErrDisconnected = errors.New("twinclient: connection to the hub lost before the answer came; the request may or may not have been applied")

// ErrClosed is returned by requests on a Service after Close.
var ErrClosed = errors.New("twinclient: service client is closed")

// IsStatus reports whether err is a hub error answer with the given status (e.g. 412).
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// parseErrorBody turns a non-2xx response into an *Error. A body that is not the expected
// JSON still gives an error that says what came.
func parseErrorBody(status int, body []byte) *Error {
	var b struct {
		ErrorCode int    `json:"errorCode"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Message == "" {
		msg := string(body)
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		if msg == "" {
			msg = "(empty body)"
		}
		return &Error{Status: status, Code: b.ErrorCode, Message: "error answer without a message: " + msg}
	}
	return &Error{Status: status, Code: b.ErrorCode, Message: b.Message}
}
