package acs

// This file is hand-written: the framing of the agent protocol's websockets,
// shared by ACS and TCS, by the control plane and by agents.

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Frame is one websocket text message of either protocol:
// {"type":"<shape name>","message":{...}}.
type Frame struct {
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
}

// EncodeFrame wraps a message of the named shape.
func EncodeFrame(typ string, msg any) ([]byte, error) {
	raw, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Frame{Type: typ, Message: raw})
}

// DecodeFrame reads a frame. TCS frames from the stock agent carry a block
// of signature headers before the JSON, ended by a blank line; it is
// skipped (the connection itself was authenticated at the upgrade).
func DecodeFrame(data []byte) (Frame, error) {
	if len(data) > 0 && data[0] != '{' {
		if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
			data = data[i+2:]
		} else if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
			data = data[i+4:]
		}
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return Frame{}, fmt.Errorf("not a protocol frame: %w", err)
	}
	if f.Type == "" {
		return Frame{}, fmt.Errorf("frame without a type")
	}
	return f, nil
}
