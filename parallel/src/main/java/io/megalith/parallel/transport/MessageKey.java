package io.megalith.parallel.transport;

/**
 * Identifies one message between two ranks: the process group it belongs to, the sequence number of
 * the operation within that group, and a tag within the operation (e.g. ring step and chunk). Keys keep
 * concurrent operations, on one group or on several, from ever taking each other's messages.
 */
public record MessageKey(int group, long sequence, int tag) {}
