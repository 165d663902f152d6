#!/bin/busybox sh
echo "hello from a Golem VM"
