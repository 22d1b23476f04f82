/** Test photos are made by the same generator the benchmark uses. */
export { bombJpeg, makePhoto } from '../../scripts/bench/photos.js';
