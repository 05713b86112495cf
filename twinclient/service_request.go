package twinclient

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// do sends one request and waits for its answer. req is marshalled to JSON (nil sends
// {}); a 2xx answer is unmarshalled into out (when out is not nil and the body is not
// empty); anything else comes back as *Error.
func (s *Service) do(ctx context.Context, op string, req, out any) error {
	body := []byte("{}")
	if req != nil {
		b, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("%s: encoding the request: %w", op, err)
		}
		body = b
	}
	status, resp, err := s.roundTrip(ctx, op, body)
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return parseErrorBody(status, resp)
	}
	if out != nil && len(resp) > 0 {
		if err := json.Unmarshal(resp, out); err != nil {
			return fmt.Errorf("%s: the hub's answer is not the expected JSON: %w", op, err)
		}
	}
	return nil
}

// roundTrip publishes $twinops/req/{op}/?$rid={rid} once the connection is up and waits
// for $twinops/res/{status}/?$rid={rid}. If the connection drops while it is out, it fails
// with ErrDisconnected (it may or may not have been carried out). Requests go at QoS 0: paho
// re-sends stored QoS 1 publishes after a reconnect, which would run a request again after
// its caller was told it failed (a second create, a 412 for an applied patch); the caller
// retries instead.
func (s *Service) roundTrip(ctx context.Context, op string, body []byte) (int, []byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.RequestTimeout)
		defer cancel()
	}
	for {
		ready := s.readyChan()
		select {
		case <-ready:
		case <-s.done:
			return 0, nil, ErrClosed
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("%s: waiting for the hub connection: %w (last error: %v)", op, ctx.Err(), s.LastError())
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, nil, ErrClosed
		}
		if s.ready != ready { // dropped in between: wait again
			s.mu.Unlock()
			continue
		}
		s.nextRID++
		rid := strconv.FormatUint(s.nextRID, 10)
		c := &call{gen: s.gen, ch: make(chan response, 1)}
		s.pending[rid] = c
		s.mu.Unlock()

		tok := s.client.Publish(topicReqPrefix+op+"/?$rid="+rid, 0, false, body)
		pubDone := tok.Done()
		for {
			select {
			case r := <-c.ch:
				return r.status, r.body, r.err
			case <-pubDone:
				pubDone = nil
				if err := tok.Error(); err != nil {
					s.forget(rid)
					return 0, nil, fmt.Errorf("%s: sending the request failed (%v): %w", op, err, ErrDisconnected)
				}
			case <-ctx.Done():
				s.forget(rid)
				return 0, nil, fmt.Errorf("%s: no answer from the hub: %w", op, ctx.Err())
			}
		}
	}
}

func (s *Service) forget(rid string) {
	s.mu.Lock()
	delete(s.pending, rid)
	s.mu.Unlock()
}

// deliver hands a response to its waiting request. Called on paho's router goroutine;
// never blocks (each call's channel has room for its one answer).
func (s *Service) deliver(topic string, payload []byte) {
	status, rid, ok := parseResTopic(topic)
	if !ok {
		s.log.Warn("ignoring a malformed response topic", "topic", topic)
		return
	}
	s.mu.Lock()
	c := s.pending[rid]
	delete(s.pending, rid)
	s.mu.Unlock()
	if c == nil {
		return // late answer to a request that timed out
	}
	c.ch <- response{status: status, body: payload} // paho allocates every payload afresh
}

// parseResTopic parses $twinops/res/{status}/?$rid={rid}[&...].
func parseResTopic(topic string) (status int, rid string, ok bool) {
	rest, found := strings.CutPrefix(topic, topicResPrefix)
	if !found {
		return 0, "", false
	}
	st, query, found := strings.Cut(rest, "/?")
	if !found || len(st) != 3 {
		return 0, "", false
	}
	status, err := strconv.Atoi(st)
	if err != nil || status < 100 {
		return 0, "", false
	}
	for part := range strings.SplitSeq(query, "&") {
		if v, isRID := strings.CutPrefix(part, "$rid="); isRID && v != "" {
			return status, v, true
		}
	}
	return 0, "", false
}
