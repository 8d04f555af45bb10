package main

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// createTopic makes the direct producer's throw-away topic. The client sends
// it to the controller, which answers once every partition has a leader.
func createTopic(ctx context.Context, admin *kafka.Client, topic string, partitions int) error {
	res, err := admin.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	return nil
}

func deleteTopic(ctx context.Context, admin *kafka.Client, topic string) error {
	res, err := admin.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("deleting topic %s: %w", topic, err)
	}
	return nil
}
