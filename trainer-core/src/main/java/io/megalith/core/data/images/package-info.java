/**
 * Images as data (data.task: images): readers, a prepared sharded format, normalisation and augmentation behind
 * {@link io.megalith.core.data.images.ImageData}, opened by {@link io.megalith.core.data.images.ImageDatasets#open}.
 *
 * <h2>Sources</h2>
 *
 * <ul>
 *   <li>IDX (MNIST's format, gzip'd or not): {@code data.path} a directory with {@code train-images-idx3-ubyte[.gz]}
 *       and {@code train-labels-idx1-ubyte[.gz]}, the {@code t10k-*} pair beside them being the held-out split (or
 *       the training images file itself). Fashion-MNIST's class names are known.</li>
 *   <li>An image folder (torchvision's ImageFolder): a sub-folder of PNG/JPEG files per class, classes sorted by
 *       name; {@code train/} and {@code test/} (or {@code val/}) sub-folders give the splits.</li>
 *   <li>Without held-out files, {@code data.val_fraction} of the images are held out by a hash of (seed, record
 *       number or relative path).</li>
 *   <li>{@code data.builtin: shapes}: 10 classes of drawn 28x28 shapes, no files.</li>
 * </ul>
 *
 * <h2>Prepared format (version 1)</h2>
 *
 * <p>The launcher prepares data.path with Spark ({@code io.megalith.launcher.data.ImagePreparation}) into a
 * directory published atomically as token shards are ({@link io.megalith.core.data.images.ImageShardWriter}):
 * {@code train-00000.bin, ...} and {@code held-out-00000.bin, ...}, each a sequence of records of a uint16
 * little-endian label followed by channels x height x width pixel bytes, and {@code index.json}
 * ({@link io.megalith.core.data.images.ImageIndex}: shape, class names, per-split shard list with CRC32C, the
 * training split's per-channel mean and std, fingerprint of the input). Ranks read it into memory, one byte per
 * pixel, verifying every checksum ({@link io.megalith.core.data.images.ImageShards#open}).
 *
 * <h2>Batches</h2>
 *
 * <p>Row i of step s's global batch is training image below(key(seed, s), i, size), drawn with replacement, then
 * augmented (data.augment: flip, crop_padding, translate) from (seed, s, i), then normalised per channel with the
 * training split's mean and std: a pure function of (seed, s, i), whatever the layout of ranks.
 */
package io.megalith.core.data.images;
