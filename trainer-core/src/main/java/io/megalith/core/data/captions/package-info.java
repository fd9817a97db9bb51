/**
 * Captioned images (data.task: captions), the data of the multimodal families (clip; the text-conditioned dit):
 * {@link io.megalith.core.data.captions.CaptionData} gives canvases with captions and, for generated sets, what
 * each caption says ({@link io.megalith.core.data.captions.Composition}) so evaluation can check it. Opened by
 * {@link io.megalith.core.data.captions.CaptionDatasets#open}.
 *
 * <h2>The generated set</h2>
 *
 * <p>Built from the items of any image set data.task images reads (Fashion-MNIST's IDX files, an image folder, or
 * data.builtin shapes). A canvas is two cells of an item's size: {@code data.captions.canvas: wide} (H x 2W, cells
 * side by side) or {@code tall} (2H x W, one above the other); background raw 0, normalised with the source's
 * per-channel mean and std. A training canvas holds
 *
 * <ul>
 *   <li>one item (fraction {@code data.captions.single_fraction}, default 0.5) at a random offset along the long
 *       side, so zero-shot classification works wherever an item sits: "a photo of a sandal", "an ankle boot", "a
 *       picture of a bag" (class names lower case, the part before "/": "T-shirt/top" is "t-shirt"); or</li>
 *   <li>two items of distinct classes, one exactly in each cell, so evaluation can classify each half: "a sneaker
 *       to the left of a bag" or, the same canvas, "a bag to the right of a sneaker" (tall: "a dress above a coat" /
 *       "a coat below a dress"), the phrasing drawn per row.</li>
 * </ul>
 *
 * <p>{@code data.captions.held_out_pairs} (default 8) unordered class pairs are chosen from the seed and never share
 * a training canvas (every class keeps training partners). {@code heldOut(j)} builds canvases of those pairs from
 * held-out source images only, round-robin over the pairs, four rows per pair of images: both orders x both
 * phrasings (rows 4k..4k+3: "a x to the left of a y", "a y to the left of a x", "a y to the right of a x", "a x to
 * the right of a y"), so a caption-order-blind model cannot tell the swaps apart. {@code heldOutItems(j)} is held-out
 * source image j centred on the canvas. Row i of step s draws everything (single or pair, classes, images, offset,
 * template, phrasing) from CounterRng key (seed, s, i): any layout of ranks gets the same rows.
 *
 * <p>Measured: building 10,000 training rows (wide, 1x28x56) from Fashion-MNIST takes 0.20-0.26 s on one core of
 * the 2-core development machine (40 batches of 250; reading the 70,000 IDX images in process once: 1.4 s).
 *
 * <h2>JSON Lines (data.format jsonl; auto when data.path holds train.jsonl)</h2>
 *
 * <p>User data, read in process by each rank (the launcher prepares nothing for it): data.path is a directory with
 * {@code train.jsonl} and {@code test.jsonl} (or {@code val.jsonl}; without either, data.val_fraction of the lines
 * are held out by a seeded hash of their image path). Each line is {@code {"image": "relative/path.png", "caption":
 * "...", "composition": {"first": "sneaker", "second": "bag", "relation": "left_of"}}}, the composition optional
 * (relation single | left_of | right_of | above | below; no second for single). Images are PNG or JPEG, grayscale or
 * RGB (the first training image decides; gray in a colour set is repeated over R, G and B), all of one size;
 * errors name the file and line. An optional {@code classes.txt} names the classes by label (else the compositions'
 * names, sorted). Mean and std come from the training split. Training rows are lines drawn with replacement from
 * (seed, step, row); held-out items are the held-out lines whose composition is a single item.
 *
 * <p>{@link io.megalith.core.data.captions.CaptionExport#write} writes any captioned set in exactly this layout
 * (PNG files, train.jsonl and test.jsonl with compositions, classes.txt); reading it back gives the same pixels,
 * captions and compositions.
 *
 * <h2>Preparation</h2>
 *
 * <p>For a generated set from files, the launcher prepares the source images exactly as for data.task images
 * ({@code io.megalith.launcher.data.ImagePreparation}: verified shards, reused while the input is unchanged) and
 * ranks open those shards; the canvases are generated on the ranks, from (seed, step, row).
 */
package io.megalith.core.data.captions;
