/**
 * Captioned images (data.task: captions), the data of the multimodal families (clip; the text-conditioned dit):
 * {@link io.megalith.core.data.captions.CaptionData} gives canvases with captions and, for generated sets, what
 * each caption says ({@link io.megalith.core.data.captions.Composition}) so evaluation can check it.
 */
package io.megalith.core.data.captions;
