package io.megalith.core.data.images;

import java.io.Serializable;

/**
 * A shard of images written (e.g. by a Spark task) into the work directory of an {@link ImageShardWriter}, not yet
 * committed, with the pixel sums of its images (for the training split's mean and std).
 *
 * @param path the file's full URI
 */
public record PendingImageShard(String path, long images, long bytes, String crc32c, ChannelStats stats)
        implements Serializable {}
