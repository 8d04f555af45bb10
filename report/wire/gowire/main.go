// Command gowire prints, as hex, the bytes Go's protobuf library writes for
// the sample Order of report/wire/wire_encoding.py, which checks that Python
// writes the very same bytes. Both sides build the message from the same
// values; keep them in step with sampleOrder there.
package main

import (
	"encoding/hex"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	dbv1 "github.com/sustech-merch/store/gen/go/merchstore/db/v1"
	logv1 "github.com/sustech-merch/store/gen/go/merchstore/log/v1"
)

func main() {
	created := time.Date(2026, time.November, 25, 17, 1, 2, 345678000, time.UTC)
	order := &dbv1.Order{
		Id:              42,
		UserId:          7,
		ProductId:       1,
		Quantity:        3,
		TotalPriceCents: 14997, // 3 x 49.99
		Status:          dbv1.OrderStatus_ORDER_STATUS_PLACED,
		CreatedAt:       timestamppb.New(created),
	}
	userID := int32(7)
	request := &logv1.HttpRequest{
		Method:    "POST",
		Path:      "/orders",
		Status:    201,
		LatencyMs: 12.5,
		UserId:    &userID,
	}
	// Deterministic: the same bytes on every run (it matters only for maps,
	// which these messages do not have, but it is the honest comparison).
	opts := proto.MarshalOptions{Deterministic: true}
	for _, m := range []proto.Message{order, request} {
		b, err := opts.Marshal(m)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s\n", m.ProtoReflect().Descriptor().FullName(), hex.EncodeToString(b))
	}
}
