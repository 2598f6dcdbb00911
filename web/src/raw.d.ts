// Vite's `?raw` imports: a file's text (the API types' test reads the generated file so).
declare module '*?raw' {
  const text: string
  export default text
}
